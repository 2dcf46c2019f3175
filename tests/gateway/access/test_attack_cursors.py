"""Attack: a page cursor replayed by another client of the same role, whose rows are other rows.

A cursor seals the key of the last row of a page (a NIK, in NIK order for a role that reads NIKs
in full). Two puskesmas officers share a role but not a kecamatan: each one's row scope decides
which residents its lists hold. A cursor one of them received, sent by the other, must be refused
like a cursor of another list, not opened and compared with the other officer's own residents: that
would place a resident outside the second officer's scope (its NIK) among their own, where out of
scope is to look exactly like unknown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...conftest import Backend, open_gateway
from ...support.sqlite import sqlite_file
from .test_access import CLIENTS, config_for, sample  # noqa: F401  (the sample fixture)

PAGE = """query ($after: String) { persons(first: 3, after: $after) {
    edges { cursor node { nik region { code } } } pageInfo { endCursor } } }"""


def _kecamatans(backend: Backend) -> list[str]:
    with sqlite_file(backend.registry_url.removeprefix("sqlite+aiosqlite:///")) as conn:
        codes = [code for (code,) in conn.execute("SELECT DISTINCT substr(kode_wilayah, 1, 8) FROM penduduk ORDER BY 1")]
    return codes


async def test_a_cursor_of_one_officers_residents_is_refused_to_another_officer_of_the_role(
    sqlite_backend: Backend, sample: dict[str, Any], tmp_path: Path  # noqa: F811
) -> None:
    officer = CLIENTS["health_officer"]
    first, second = _kecamatans(sqlite_backend)[:2]
    config = config_for(sqlite_backend, {"path": str(tmp_path / "audit.sqlite")}, kecamatan=first, npsn=sample["npsn"])
    mine = next(c for c in config["clients"] if c["role"] == "health_officer")
    # A second officer of the same role, in the next kecamatan, with a key of their own.
    import hashlib

    other_key = "sd_test_second_puskesmas_officer_key_0001"
    config["clients"].append({**mine, "id": "puskesmas-other", "region": second,
                              "key_sha256": hashlib.sha256(other_key.encode()).hexdigest()})
    async for gateway in open_gateway(config):
        async def page(key: str, after: str | None) -> dict[str, Any]:
            response = await gateway.client.post(
                "/graphql", json={"query": PAGE, "variables": {"after": after}},
                headers={"X-API-Key": key, "X-Satudata-Purpose": officer.purpose},
            )
            return response.json()

        own = await page(officer.key, None)
        edges = own["data"]["persons"]["edges"]
        assert edges and all(e["node"]["region"]["code"].startswith(first) for e in edges)
        cursor = own["data"]["persons"]["pageInfo"]["endCursor"]
        # The cursor pages on for the officer it was made for ...
        onwards = await page(officer.key, cursor)
        assert "errors" not in onwards, onwards
        # ... and, sent by the other officer, says nothing of where that resident's NIK lies among theirs.
        replayed = await page(other_key, cursor)
        start = await page(other_key, None)
        assert start["data"]["persons"]["edges"], start
        got = [e["node"]["nik"] for e in (replayed.get("data") or {}).get("persons", {}).get("edges", [])] if replayed.get("data") and replayed["data"]["persons"] else None
        assert got is None, f"the other officer's list was paged after a resident outside their scope: {got}"
        assert [e["extensions"]["reason"] for e in replayed["errors"]] == ["MALFORMED"]
