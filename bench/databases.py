"""The benchmark's OPD databases: registry on PostgreSQL, education on MariaDB, loaded once per scale.

Loading scale 1.0 takes minutes, so after a load a ``bench_manifest`` row is written into
*both* databases (scale, seed, generator version, load time). A later run reuses the
databases when both manifests match; a load first deletes the manifests, so an interrupted
load is never mistaken for a finished one. Only databases named ``satudata_bench_*`` are
created or written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"
DEFAULT_MARIADB = "mysql+aiomysql://root@127.0.0.1:3306"
DB_PREFIX = "satudata_bench_"
MANIFEST = "bench_manifest"


@dataclass(frozen=True)
class BenchDatabases:
    """The two source URLs used for one scale."""

    scale: float
    seed: int
    registry_url: str
    education_url: str


@dataclass
class LoadOutcome:
    """Whether the data was loaded in this run, and how long it took (this run's or the recorded one)."""

    reused: bool
    load_seconds: float | None
    loaded_at: str | None
    generator_version: int | None


def scale_tag(scale: float) -> str:
    """``0.1`` -> ``"0_1"``, ``1.0`` -> ``"1"``: the scale as it appears in database names."""

    return f"{scale:g}".replace(".", "_").replace("-", "m")


def bench_databases(
    scale: float, seed: int, *, postgres: str = DEFAULT_POSTGRES, mariadb: str = DEFAULT_MARIADB
) -> BenchDatabases:
    """The registry (PostgreSQL) and education (MariaDB) URLs for ``scale``."""

    tag = scale_tag(scale)
    registry = make_url(postgres).set(database=f"{DB_PREFIX}registry_{tag}")
    education = make_url(mariadb).set(database=f"{DB_PREFIX}education_{tag}", query={"charset": "utf8mb4"})
    return BenchDatabases(
        scale=scale,
        seed=seed,
        registry_url=registry.render_as_string(hide_password=False),
        education_url=education.render_as_string(hide_password=False),
    )


def generator_version() -> int | None:
    """The demo generator's version (``demo.dataset.GENERATOR_VERSION``), if it declares one."""

    try:
        from demo.dataset import GENERATOR_VERSION
    except ImportError:
        return None
    return int(GENERATOR_VERSION)


async def ensure_loaded(dbs: BenchDatabases, *, reload: bool = False, log: Any = print) -> LoadOutcome:
    """Create the databases if missing; load the demo data unless both manifests already match."""

    await _create_database(dbs.registry_url)
    await _create_database(dbs.education_url)
    wanted = {"scale": dbs.scale, "seed": dbs.seed, "generator_version": generator_version()}
    if not reload:
        found = [await _read_manifest(url) for url in (dbs.registry_url, dbs.education_url)]
        if all(m is not None and _matches(m, wanted) for m in found):
            m = found[0]
            assert m is not None
            took = f"loaded {m['loaded_at']}, took {m['load_seconds']:.0f} s"
            log(f"scale {dbs.scale:g}: reusing loaded databases ({took})")
            return LoadOutcome(True, m["load_seconds"], m["loaded_at"], m["generator_version"])

    import demo

    for url in (dbs.registry_url, dbs.education_url):
        await _drop_manifest(url)
    from demo.progress import Progress

    started = time.perf_counter()
    # A line every few seconds (what is being generated, rows loaded per table): scale 1.0 takes minutes.
    with Progress(f"scale {dbs.scale:g}: building the dataset (seed {dbs.seed})", write=log):
        ds = demo.build_dataset(scale=dbs.scale, seed=dbs.seed)
    with Progress(f"scale {dbs.scale:g}: loading into PostgreSQL + MariaDB", write=log):
        await demo.load_dataset(ds, registry_url=dbs.registry_url, education_url=dbs.education_url)
    seconds = time.perf_counter() - started
    loaded_at = datetime.now(UTC).isoformat(timespec="seconds")
    for url in (dbs.registry_url, dbs.education_url):
        await _write_manifest(url, {**wanted, "loaded_at": loaded_at, "load_seconds": seconds})
    log(f"scale {dbs.scale:g}: build + load took {seconds:.0f} s")
    return LoadOutcome(False, seconds, loaded_at, wanted["generator_version"])


def _matches(found: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return (
        abs(float(found["scale"]) - float(wanted["scale"])) < 1e-9
        and int(found["seed"]) == int(wanted["seed"])
        and found["generator_version"] == wanted["generator_version"]
    )


def _engine(url: str, **kwargs: Any) -> AsyncEngine:
    return create_async_engine(url, **kwargs)


async def _create_database(url: str) -> None:
    u = make_url(url)
    name = u.database or ""
    if not name.startswith(DB_PREFIX):
        raise ValueError(f"refusing to touch database {name!r}: bench databases are named {DB_PREFIX}*")
    if u.get_backend_name() == "postgresql":
        engine = _engine(u.set(database="postgres").render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
                if not exists:
                    await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            await engine.dispose()
    elif u.get_backend_name() in ("mysql", "mariadb"):
        engine = _engine(u._replace(database=None).render_as_string(hide_password=False))
        try:
            async with engine.connect() as conn:
                await conn.exec_driver_sql(
                    f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
        finally:
            await engine.dispose()
    else:
        raise ValueError(f"unsupported bench backend in {u.render_as_string()}")


async def _read_manifest(url: str) -> dict[str, Any] | None:
    engine = _engine(url)
    try:
        async with engine.connect() as conn:
            has = await conn.run_sync(lambda sync: sync.dialect.has_table(sync, MANIFEST))
            if not has:
                return None
            row = (
                (
                    await conn.execute(
                        text(f"SELECT scale, seed, generator_version, loaded_at, load_seconds FROM {MANIFEST}")
                    )
                )
                .mappings()
                .first()
            )
            return dict(row) if row else None
    finally:
        await engine.dispose()


async def _drop_manifest(url: str) -> None:
    engine = _engine(url)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f"DROP TABLE IF EXISTS {MANIFEST}")
    finally:
        await engine.dispose()


async def _write_manifest(url: str, values: dict[str, Any]) -> None:
    engine = _engine(url)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f"DROP TABLE IF EXISTS {MANIFEST}")
            await conn.exec_driver_sql(
                f"CREATE TABLE {MANIFEST} (scale DOUBLE PRECISION NOT NULL, seed INTEGER NOT NULL, "
                "generator_version INTEGER NULL, loaded_at VARCHAR(40) NOT NULL, "
                "load_seconds DOUBLE PRECISION NOT NULL)"
            )
            await conn.execute(
                text(
                    f"INSERT INTO {MANIFEST} (scale, seed, generator_version, loaded_at, load_seconds) "
                    "VALUES (:scale, :seed, :generator_version, :loaded_at, :load_seconds)"
                ),
                values,
            )
    finally:
        await engine.dispose()


async def server_version(url: str) -> str:
    """``SELECT version()`` of the server behind ``url`` (e.g. ``PostgreSQL 16.4 ...``, ``11.4.2-MariaDB``)."""

    engine = _engine(url)
    try:
        async with engine.connect() as conn:
            return str(await conn.scalar(text("SELECT version()")))
    finally:
        await engine.dispose()
