"""The audit record's format version 2: per field full or masked, refused attempts, the outcome.

Entries written in version 1 (every log before this change) stay as they are and keep
verifying; a log holds both, on SQLite and on the machine's PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from connectors import SourceTrace
from gateway.access.audit import GENESIS, AuditLog, AuditRecord
from gateway.access.audit.record import FORMAT_VERSION
from gateway.access.auth import Principal

from .test_audit import EKO, RAFI, ZAKI, Store, audit_log, pg_audit_database, record, store  # noqa: F401 (fixtures)

#: Entry 1 exactly as the version-1 gateway (before format version 2) wrote ``record(1)``.
V1_ENTRY_1 = (
    '{"client_id":"dinkes-surveilans","fields":["Person.birthDate","Person.name"],"operation":"Op1",'
    '"persons":["3503080809160001"],"purpose":"SURVEILANS_KLB",'
    '"query_sha256":"734728678c3654fa7e57e45c7132ee86c97383500675680dfd0418ab6e119271","request_id":"req-1",'
    '"role":"health_officer","seq":1,"sources":{"siak":{"calls":2,"rows":1}},"time":"2026-11-23T08:01:00.000000Z","v":1}'
)


def masked_read(n: int) -> AuditRecord:
    """An analyst's answer: the name went out masked, the birth date in full, the NIK refused."""

    return dataclasses.replace(
        record(n, persons=(ZAKI,)), role="smart_center_analyst", masked=("Person.name",), refused=("Person.nik",)
    )


def refused_attempt(n: int) -> AuditRecord:
    return dataclasses.replace(
        record(n, persons=()), fields=(), refused=("Query.person", "Person.nik"), outcome="refused"
    )


def budget_stop(n: int) -> AuditRecord:
    return dataclasses.replace(record(n, persons=(RAFI,)), fields=(), outcome="budget_exceeded")


# --- the record -------------------------------------------------------------------------


def test_finding_5_an_entry_says_which_fields_went_out_masked_and_which_were_refused() -> None:
    rec = masked_read(3)
    text = rec.canonical_json(3)
    written = json.loads(text)
    assert FORMAT_VERSION == 2 and written["v"] == 2
    assert written["fields"] == ["Person.birthDate", "Person.name"]  # everything disclosed ...
    assert written["masked"] == ["Person.name"]  # ... and which part of it went out masked
    assert written["refused"] == ["Person.nik"] and written["outcome"] == "answered"
    assert AuditRecord.from_json(text) == rec
    for other in (refused_attempt(4), budget_stop(5)):
        assert AuditRecord.from_json(other.canonical_json(9)) == other


def test_for_request_takes_the_new_fields_and_stays_compatible() -> None:
    principal = Principal(client_id="analis", role="smart_center_analyst", kind="api_key")
    common = dict(principal=principal, purpose="statistik", operation=None, document="{ person { name } }",
                  persons=[ZAKI], fields=["Person.name", "Person.region"], trace=SourceTrace())  # fmt: skip
    plain = AuditRecord.for_request(**common)  # type: ignore[arg-type]
    assert (plain.masked, plain.refused, plain.outcome) == ((), (), "answered")
    rec = AuditRecord.for_request(
        **common, masked=["Person.name", "Person.name"], refused=["Person.nik"], outcome="refused"  # type: ignore[arg-type]
    )
    assert (rec.masked, rec.refused, rec.outcome) == (("Person.name",), ("Person.nik",), "refused")


def test_a_record_is_refused_when_it_contradicts_itself() -> None:
    with pytest.raises(ValueError, match="masked names fields that are not in fields"):
        dataclasses.replace(record(1), masked=("Person.nik",))
    with pytest.raises(ValueError, match="outcome must be one of"):
        dataclasses.replace(record(1), outcome="maybe")
    with pytest.raises(ValueError, match="version 1 cannot record"):
        masked_read(1).canonical_json(1, version=1)
    with pytest.raises(ValueError, match="unknown audit format version"):
        record(1).canonical_json(1, version=3)


def test_a_version_1_entry_reads_and_rewrites_byte_for_byte() -> None:
    assert record(1).canonical_json(1, version=1) == V1_ENTRY_1
    old = AuditRecord.from_json(V1_ENTRY_1)
    assert old == record(1) and (old.masked, old.refused, old.outcome) == ((), (), "answered")
    assert old.canonical_json(1, version=1) == V1_ENTRY_1


# --- logs holding both versions -----------------------------------------------------------


async def write_as_version_1(store: Store, records: list[AuditRecord]) -> str:
    """Append ``records`` as a version-1 gateway did (same tables, same formula); the head hash."""

    (head_seq, head_hash), *_ = await store.sql("SELECT seq, hash FROM audit_head")
    seq, prev = int(str(head_seq)), str(head_hash)
    statements = []
    for rec in records:
        seq += 1
        text = rec.canonical_json(seq, version=1)
        hash_ = hashlib.sha256((prev + text).encode()).hexdigest()
        statements.append(f"INSERT INTO audit_entry (seq, record, prev_hash, hash) VALUES ({seq}, '{text}', '{prev}', '{hash_}')")
        statements += [f"INSERT INTO audit_subject (nik, seq) VALUES ('{nik}', {seq})" for nik in rec.persons]
        statements.append(f"UPDATE audit_head SET seq = {seq}, hash = '{hash_}'")
        prev = hash_
    await store.sql(*statements)
    return prev


async def test_a_log_of_version_1_and_version_2_entries_verifies_and_reads_back(
    audit_log: AuditLog, store: Store
) -> None:
    await write_as_version_1(store, [record(1), record(2, persons=(EKO, ZAKI))])
    assert [str(t) for (t,) in await store.sql("SELECT record FROM audit_entry WHERE seq = 1")] == [V1_ENTRY_1]
    newer = [masked_read(3), refused_attempt(4), budget_stop(5)]
    entries = [await audit_log.append(r) for r in newer]
    assert [e.seq for e in entries] == [3, 4, 5]
    versions = [json.loads(str(t))["v"] for (t,) in await store.sql("SELECT record FROM audit_entry ORDER BY seq")]
    assert versions == [1, 1, 2, 2, 2]

    result = await audit_log.verify()
    assert result.ok and result.entries == 5 and result.head_hash == entries[-1].hash, result.problem

    seen = await audit_log.for_person(ZAKI)
    assert [(e.seq, e.record.masked, e.record.outcome) for e in seen] == [(2, (), "answered"), (3, ("Person.name",), "answered")]
    assert seen[1].record == masked_read(3)
    assert [e.record for e in await audit_log.for_person(RAFI)] == [budget_stop(5)]


async def test_an_edit_of_a_version_1_entry_in_a_mixed_log_is_found(audit_log: AuditLog, store: Store) -> None:
    await write_as_version_1(store, [record(1), record(2)])
    await audit_log.append(masked_read(3))
    await store.sql("UPDATE audit_entry SET record = replace(record, 'Op2', 'Op7') WHERE seq = 2")
    problem = (await audit_log.verify()).problem
    assert problem is not None and (problem.seq, problem.kind) == (2, "edited"), problem


async def test_an_entry_not_in_its_versions_canonical_form_is_found(audit_log: AuditLog, store: Store) -> None:
    # Re-serialised with spaces and rehashed, head moved along: the hash chain holds, but no
    # gateway writes such bytes, so someone with the database wrote the entry.
    await write_as_version_1(store, [record(1)])
    await audit_log.append(masked_read(2))
    (text, prev), *_ = await store.sql("SELECT record, prev_hash FROM audit_entry WHERE seq = 2")
    loose = json.dumps(json.loads(str(text)), sort_keys=True)
    hash_ = hashlib.sha256((str(prev) + loose).encode()).hexdigest()
    await store.sql(f"UPDATE audit_entry SET record = '{loose}', hash = '{hash_}' WHERE seq = 2",
                    f"UPDATE audit_head SET hash = '{hash_}'")  # fmt: skip
    problem = (await audit_log.verify()).problem
    assert problem is not None and (problem.seq, problem.kind) == (2, "format"), problem
    assert "canonical form of format version 2" in problem.detail


async def test_an_empty_log_still_starts_from_genesis(audit_log: AuditLog) -> None:
    result = await audit_log.verify()
    assert result.ok and (result.entries, result.head_seq, result.head_hash) == (0, 0, GENESIS)
