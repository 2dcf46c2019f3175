"""``AuditLog``: an append-only, hash-chained record of every disclosure (SQLite or PostgreSQL).

Appends are serialised twice over: one writer task per process commits the queued
appends, a batch per transaction (group commit), and the database serialises processes — PostgreSQL by ``SELECT … FOR UPDATE`` on the head
row, SQLite by ``BEGIN IMMEDIATE`` (the write lock is taken before the head is read).
So two gateways sharing one PostgreSQL never write two entries with the same prev_hash.

With a checkpoint store (``[audit] checkpoint``), the head is also anchored outside the
log (``gateway.access.audit.checkpoint``) and ``verify`` holds the log against it. A SQLite log
is created ``0600`` in a ``0700`` directory, and an existing one is narrowed at start
(``gateway.private_files``): it says who looked at whom.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, inspect, insert, null, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from . import schema
from ...private_files import SQLITE_COMPANIONS, create_private_file, make_private
from .chain import ChainChecker, ChainProblem, VerifyResult
from .checkpoint import Checkpoint, Checkpointer
from .checkpoint_stores import open_checkpoint_store
from .errors import AuditUnavailable
from .record import GENESIS, AuditEntry, AuditRecord, chain_hash
from .settings import AuditSettings
from .subjects import SubjectNames

log = logging.getLogger("satudata.audit")

#: Any fixed number; it names the lock that serialises schema creation across processes.
_PG_SETUP_LOCK = 0x5A7D_A7A0
_WRITE = "satudata_audit_write"


class AuditLog:
    """The gateway's record of who saw whose data (UU PDP Pasal 31 and 32)."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        subject_key: str | None = None,
        checkpoints: Checkpointer | None = None,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        #: NIKs, or their keyed pseudonyms when a subject key is set (``gateway.access.audit.subjects``).
        self.subjects = SubjectNames(subject_key)
        #: Anchors the head outside the log; ``None`` when no checkpoint store is configured.
        self.checkpoints = checkpoints
        self._sqlite = url.startswith("sqlite")
        self._engine = _engine(url, timeout_s)
        self._started = False
        #: Appends waiting for the next commit, and the task committing them (group commit).
        self._queue: list[tuple[AuditRecord, asyncio.Future[AuditEntry]]] = []
        self._writer: asyncio.Task[None] | None = None
        #: A writer that has stopped taking appends and is closing its connection.
        self._retiring: asyncio.Task[None] | None = None
        self._more = asyncio.Event()
        self._closing = False

    @classmethod
    def from_settings(cls, config: Mapping[str, Any], *, base_dir: Path | None = None) -> AuditLog:
        """From the parsed config file's ``[audit]`` table (see ``gateway.access.audit.settings``)."""

        settings = AuditSettings.from_dict(config, base_dir=base_dir)
        checkpoints = None
        if settings.checkpoint is not None and settings.checkpoint_key is not None:
            checkpoints = Checkpointer(
                open_checkpoint_store(settings.checkpoint, timeout_s=settings.timeout_s),
                settings.checkpoint_key,
                every=settings.checkpoint_every,
                interval_s=settings.checkpoint_interval_s,
            )
        return cls(settings.url, timeout_s=settings.timeout_s, subject_key=settings.subject_key, checkpoints=checkpoints)

    @property
    def where(self) -> str:
        """The database, for messages; never with a password."""

        return self._engine.url.render_as_string(hide_password=True)

    async def start(self) -> None:
        """Create the tables, triggers and head row if this is a new log; leave an existing one alone."""

        try:
            if self._sqlite:
                self._make_sqlite_files_private()
            async with _write(self._engine) as conn:
                if not self._sqlite:
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SETUP_LOCK})
                if not await conn.run_sync(lambda c: inspect(c).has_table("audit_entry")):
                    await conn.run_sync(schema.metadata.create_all)
                    for ddl in schema.SQLITE_TRIGGERS if self._sqlite else schema.POSTGRESQL_TRIGGERS:
                        await conn.exec_driver_sql(ddl)
                    await conn.execute(insert(schema.head).values(id=1, seq=0, hash=GENESIS))
                    log.info("created the audit log in %s", self.where)
                elif not await conn.run_sync(_head_has_prev_hash):
                    await conn.exec_driver_sql(schema.HEAD_PREV_HASH_DDL)
                    log.info("added audit_head.prev_hash to the audit log in %s", self.where)
        except (SQLAlchemyError, OSError) as exc:
            raise AuditUnavailable(f"cannot set up the audit log in {self.where}: {_cause(exc)}") from exc
        self._started = True
        if self.checkpoints is not None:
            await self.checkpoints.start()

    def _make_sqlite_files_private(self) -> None:
        """Create the database file 0600 before SQLite does (SQLite would use the umask, and
        its WAL and SHM files copy the database file's mode); narrow existing ones."""

        name = self._engine.url.database or ""
        if name in ("", ":memory:") or name.startswith("file:"):
            return  # no file of ours (an in-memory log is for tests; a URI names its own mode)
        database = Path(name)
        create_private_file(database, create_dir=False)
        for suffix in SQLITE_COMPANIONS:
            make_private(database.with_name(database.name + suffix))

    async def append(self, record: AuditRecord) -> AuditEntry:
        """Add ``record`` as the next entry; ``AuditUnavailable`` if it was not durably written.

        Returns only once the entry is committed. Appends that arrive while a commit is under
        way are written together in the next transaction (group commit): each still gets its
        own entry, in the order the appends were made, and each caller waits for the commit
        that holds its entry. Under load one transaction carries many entries, so the log's
        throughput is no longer one round of the database's commit per answer.

        The entry names the record's persons as ``self.subjects`` stores them (pseudonyms under
        a subject key), and the returned entry holds the record as stored.
        """

        if self.subjects.pseudonymous and record.persons:
            record = record.naming([self.subjects.stored(nik) for nik in record.persons])
        if not self._started:
            await self.start()
        done: asyncio.Future[AuditEntry] = asyncio.get_running_loop().create_future()
        self._queue.append((record, done))
        if self._writer is None or self._writer.done():
            self._more = asyncio.Event()  # of this loop (tests run one log on several)
            self._writer = asyncio.create_task(self._write_queued())
        else:
            self._more.set()  # a writer lingering for more
        try:
            # A caller that stops waiting (timeout, disconnect) does not stop the commit: its
            # entry may still be written, which errs towards the record, never away from it.
            # (Awaited unshielded: stopping cancels only ``done``, which the writer skips when it
            # has the batch's entries; the record is in the batch all the same.)
            async with asyncio.timeout(self.timeout_s):
                return await done
        except TimeoutError as exc:
            raise AuditUnavailable(f"the audit log did not accept the entry within {self.timeout_s:g} s") from exc

    #: Most entries one transaction writes.
    MAX_BATCH = 256

    #: How long the writer keeps its connection after the queue empties: under load the next
    #: appends are a moment away, and a held connection spares each batch the pool's check-out
    #: and ping; an idle gateway holds none.
    LINGER_S = 0.25

    async def _write_queued(self) -> None:
        """Commit what is queued, a batch per transaction, until nothing has come for ``LINGER_S``."""

        conn: AsyncConnection | None = None
        try:
            while True:
                if not self._queue:
                    if self._closing:
                        return
                    self._more.clear()
                    try:
                        async with asyncio.timeout(self.LINGER_S):
                            await self._more.wait()
                    except TimeoutError:
                        if not self._queue:  # an append may have come as the time ran out
                            return
                    continue
                batch, self._queue = self._queue[: self.MAX_BATCH], self._queue[self.MAX_BATCH :]
                records = [record for record, _ in batch]
                entries: list[AuditEntry] | None = None
                try:
                    async with asyncio.timeout(self.timeout_s):
                        if conn is not None:
                            try:
                                entries = await self._write_batch(conn, records)
                            except (SQLAlchemyError, OSError):
                                # The held connection may have died while idle (the pool's ping is
                                # skipped for it): once more on a new one. Nothing committed, or at
                                # worst the batch is recorded twice: never a lost entry.
                                await _discard(conn)
                                conn = None
                        if entries is None:
                            conn = await self._engine.connect()
                            await conn.execution_options(**{_WRITE: True})
                            entries = await self._write_batch(conn, records)
                except TimeoutError:
                    failure: AuditUnavailable = AuditUnavailable(
                        f"the audit log did not accept the entry within {self.timeout_s:g} s"
                    )
                except (SQLAlchemyError, OSError) as exc:
                    failure = AuditUnavailable(f"cannot write to the audit log: {_cause(exc)}")
                if entries is None and conn is not None:
                    # Its state is unknown (a broken link, a transaction cut short): the next batch opens another.
                    await _discard(conn)
                    conn = None
                for position, (_, done) in enumerate(batch):
                    if done.done():
                        continue
                    if entries is None:
                        done.set_exception(failure)
                    else:
                        done.set_result(entries[position])
                if entries is not None and self.checkpoints is not None:
                    for entry in entries:
                        self.checkpoints.appended(entry.seq, entry.hash)
        finally:
            # No longer the writer before the first await below: an append made while the
            # connection closes must start a writer of its own, not wake this one.
            if self._writer is asyncio.current_task():
                self._writer, self._retiring = None, self._writer
            if conn is not None:
                await conn.close()

    async def _write_batch(self, conn: AsyncConnection, records: list[AuditRecord]) -> list[AuditEntry]:
        """Chain ``records`` onto the head in one transaction on ``conn``; all of them or none."""

        if conn.dialect.driver == "asyncpg":
            driver = (await conn.get_raw_connection()).driver_connection
            return await _write_batch_asyncpg(driver, records)
        async with conn.begin():
            head = schema.head.c
            current = (await conn.execute(select(head.seq, head.hash).where(head.id == 1).with_for_update())).one()
            entries = _chain(records, current.seq, current.hash)
            await conn.execute(
                insert(schema.entries),
                [{"seq": e.seq, "record": e.canonical, "prev_hash": e.prev_hash, "hash": e.hash} for e in entries],
            )
            subjects = [{"nik": nik, "seq": e.seq} for e in entries for nik in e.record.persons]
            if subjects:
                await conn.execute(insert(schema.subjects), subjects)
            # The head moves one entry at a time (the database's own trigger refuses a jump),
            # as many steps as entries, all in this one transaction.
            await conn.execute(
                update(schema.head)
                .where(head.id == 1)
                .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"), prev_hash=bindparam("old_hash")),
                [{"new_seq": e.seq, "new_hash": e.hash, "old_hash": e.prev_hash} for e in entries],
            )
        return [e.entry for e in entries]

    async def verify(self, *, batch: int = 1000) -> VerifyResult:
        """Walk the whole chain and hold it against the latest checkpoint; the result names
        the first entry that is not as written (a cut-off tail: the first entry missing)."""

        checkpoint, problem = await self._latest_checkpoint()
        if problem is not None:
            return VerifyResult(0, 0, GENESIS, problem)
        # Read after the checkpoint: the log only grows, so it reaches at least as far.
        checker = ChainChecker(checkpoint)
        try:
            async with self._read() as conn:
                # A log written before prev_hash existed, read without being started, has none.
                prev_column = schema.head.c.prev_hash if await conn.run_sync(_head_has_prev_hash) else null()
                head = (await conn.execute(select(schema.head.c.seq, schema.head.c.hash, prev_column))).one()
                last = 0
                while True:
                    seq = schema.entries.c.seq
                    page = select(schema.entries).where(seq > last).order_by(seq).limit(batch)
                    rows = (await conn.execute(page)).all()
                    if not rows:
                        break
                    indexed = await _subjects_between(conn, rows[0].seq, rows[-1].seq)
                    for row in rows:
                        problem = checker.check(row.seq, row.record, row.prev_hash, row.hash, indexed.get(row.seq, ()))
                        if problem is not None:
                            return VerifyResult(checker.entries, head.seq, head.hash, problem, checkpoint)
                    last = rows[-1].seq
        except (SQLAlchemyError, OSError) as exc:
            raise AuditUnavailable(f"cannot read the audit log: {_cause(exc)}") from exc
        return VerifyResult(checker.entries, head.seq, head.hash, checker.finish(head.seq, head.hash, head[2]), checkpoint)

    async def _latest_checkpoint(self) -> tuple[Checkpoint | None, ChainProblem | None]:
        if self.checkpoints is None:
            return None, None
        try:
            checkpoint = await self.checkpoints.latest()
        except ValueError as exc:
            return None, ChainProblem(0, "checkpoint", f"the checkpoint in {self.checkpoints.where} is unreadable: {exc}")
        if checkpoint is not None and not self.checkpoints.verifies(checkpoint):
            return None, ChainProblem(
                checkpoint.seq,
                "checkpoint",
                f"the checkpoint in {self.checkpoints.where} does not carry the HMAC of [audit] checkpoint_key: "
                "it was forged, or the key changed",
            )
        return checkpoint, None

    async def for_person(self, nik: str) -> list[AuditEntry]:
        """Every entry that disclosed data of the person with this NIK, oldest first
        (under its pseudonym too, when the log has a subject key)."""

        query = (
            select(schema.entries.c.seq, schema.entries.c.hash, schema.entries.c.record)
            .join(schema.subjects, schema.subjects.c.seq == schema.entries.c.seq)
            .where(schema.subjects.c.nik.in_(self.subjects.search_terms(nik)))
            .order_by(schema.entries.c.seq)
        )
        try:
            async with self._read() as conn:
                rows = (await conn.execute(query)).all()
        except (SQLAlchemyError, OSError) as exc:
            raise AuditUnavailable(f"cannot read the audit log: {_cause(exc)}") from exc
        return [AuditEntry(seq=r.seq, hash=r.hash, record=AuditRecord.from_json(r.record)) for r in rows]

    async def aclose(self) -> None:
        """Write the last checkpoint (if this process appended since the last one), then close."""

        try:
            writers = [task for task in (self._writer, self._retiring) if task is not None and not task.done()]
            if writers:
                self._closing = True  # no lingering: write what is queued and stop
                self._more.set()
                await asyncio.wait(writers, timeout=self.timeout_s)
            if self.checkpoints is not None:
                await self.checkpoints.aclose()
        finally:
            await self._engine.dispose()

    def _read(self) -> _ReadTransaction:
        return _ReadTransaction(self)


class _ReadTransaction:
    """A consistent snapshot of an existing log (REPEATABLE READ on PostgreSQL)."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> AsyncConnection:
        log_ = self._log
        if log_._sqlite and not Path(log_._engine.url.database or "").exists():
            # Connecting would create an empty file and report an intact, empty log.
            raise AuditUnavailable(f"there is no audit log at {log_._engine.url.database}")
        conn = await log_._engine.connect()
        try:
            if not log_._sqlite:
                await conn.execution_options(isolation_level="REPEATABLE READ")
            await conn.begin()
            if not await conn.run_sync(lambda c: inspect(c).has_table("audit_entry")):
                raise AuditUnavailable(f"{log_.where} holds no audit log (no audit_entry table)")
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return conn

    async def __aexit__(self, *exc: object) -> None:
        assert self._conn is not None
        await self._conn.rollback()  # nothing was written; a read never commits
        await self._conn.close()


class _write:  # noqa: N801 (used like a function: ``async with _write(engine) as conn``)
    """A transaction that holds the write lock from its first statement (SQLite: BEGIN IMMEDIATE)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> AsyncConnection:
        self._conn = await self._engine.connect()
        await self._conn.execution_options(**{_WRITE: True})
        await self._conn.begin()
        return self._conn

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        assert self._conn is not None
        try:
            if exc_type is None:
                await self._conn.commit()
            else:
                await self._conn.rollback()
        finally:
            await self._conn.close()


async def _discard(conn: AsyncConnection) -> None:
    """Close a connection whose state is unknown so that the pool does not hand it out again."""

    try:
        await conn.invalidate()
        await conn.close()
    except (SQLAlchemyError, OSError):
        pass  # already gone


#: The batch's statements on PostgreSQL, sent straight to asyncpg: SQLAlchemy's execution
#: machinery (a greenlet hop, a compiled-cache lookup and result objects per statement) cost
#: more per batch than the statements themselves, on the path every answer with personal data
#: waits on. The entries and subjects go in one statement each (``unnest`` of arrays), the
#: head's steps in one pipelined ``executemany``.
_PG_LOCK_HEAD = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
#: The entries and the persons they name, in one statement (one round trip; an empty subject
#: array inserts no subject). The entries' CTE runs first in the statement's snapshot, and a
#: failure of either insert fails both, as two statements in the transaction would.
_PG_INSERT_ENTRIES_AND_SUBJECTS = (
    "WITH entries AS (INSERT INTO audit_entry (seq, record, prev_hash, hash) "
    "SELECT * FROM unnest($1::bigint[], $2::text[], $3::varchar[], $4::varchar[])) "
    "INSERT INTO audit_subject (nik, seq) SELECT * FROM unnest($5::text[], $6::bigint[])"
)
_PG_MOVE_HEAD = "UPDATE audit_head SET seq = $1, hash = $2, prev_hash = $3 WHERE id = 1"


async def _write_batch_asyncpg(pg: Any, records: list[AuditRecord]) -> list[AuditEntry]:
    """``AuditLog._write_batch`` on an asyncpg connection: the same rows, fewer layers."""

    import asyncpg

    try:
        async with pg.transaction():
            current = await pg.fetchrow(_PG_LOCK_HEAD)
            entries = _chain(records, current["seq"], current["hash"])
            subjects = [(nik, e.seq) for e in entries for nik in e.record.persons]
            await pg.execute(
                _PG_INSERT_ENTRIES_AND_SUBJECTS,
                [e.seq for e in entries], [e.canonical for e in entries],
                [e.prev_hash for e in entries], [e.hash for e in entries],
                [nik for nik, _ in subjects], [seq for _, seq in subjects],
            )
            # The head moves one entry at a time (the database's own trigger refuses a jump).
            await pg.executemany(_PG_MOVE_HEAD, [(e.seq, e.hash, e.prev_hash) for e in entries])
    except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError) as exc:
        # InternalClientError: the rollback of a transaction whose connection died under it.
        # As SQLAlchemy would raise it, so the writer's handling (retry on a new connection,
        # AuditUnavailable) is the same on both paths.
        raise DBAPIError(None, None, exc) from exc
    return [e.entry for e in entries]


@dataclasses.dataclass(frozen=True, slots=True)
class _Chained:
    """One record chained onto the log: the row it is written as, and the entry it becomes."""

    seq: int
    canonical: str
    prev_hash: str
    hash: str
    record: AuditRecord

    @property
    def entry(self) -> AuditEntry:
        return AuditEntry(seq=self.seq, hash=self.hash, record=self.record)


def _chain(records: list[AuditRecord], seq: int, previous: str) -> list[_Chained]:
    """``records`` as the entries after the head ``(seq, previous)``, each hash covering the one before."""

    chained: list[_Chained] = []
    for record in records:
        seq += 1
        canonical = record.canonical_json(seq)
        hash_ = chain_hash(previous, canonical)
        chained.append(_Chained(seq, canonical, previous, hash_, record))
        previous = hash_
    return chained


def _head_has_prev_hash(conn: Connection) -> bool:
    return any(column["name"] == "prev_hash" for column in inspect(conn).get_columns("audit_head"))


async def _subjects_between(conn: AsyncConnection, first: int, last: int) -> dict[int, list[str]]:
    rows = await conn.execute(
        select(schema.subjects.c.seq, schema.subjects.c.nik).where(schema.subjects.c.seq.between(first, last))
    )
    indexed: dict[int, list[str]] = defaultdict(list)
    for seq, nik in rows:
        indexed[seq].append(nik)
    return indexed


def _engine(url: str, timeout_s: float) -> AsyncEngine:
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_pre_ping=True, connect_args={"timeout": timeout_s})
    # The driver's own transaction handling would BEGIN lazily (DEFERRED) and only take the
    # write lock at the first INSERT, after the head was read: two processes could then read
    # the same head. So the driver stays in autocommit and we say BEGIN ourselves.
    engine = create_async_engine(url, connect_args={"timeout": max(timeout_s, 1.0)})

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers (verify) do not block the appends
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


def _cause(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return f"{type(original).__name__}: {str(original).splitlines()[0] if str(original) else ''}"
