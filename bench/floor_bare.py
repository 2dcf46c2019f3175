"""The bare endpoint of ``python -m bench.floor``: the floor's three answers without a gateway.

Starlette + asyncpg (+ aiomysql for the schools) + orjson, served by one uvicorn process (uvloop,
httptools). Each route sends the SQL statements a hand-written endpoint needs for the answer the
gateway gives to the same GraphQL query, asks only the columns it returns, nests the rows in Python
and writes the same JSON (``{"data": ...}``, same fields, same order), so that the difference in
rate is what the gateway adds: HTTP and GraphQL machinery, the generic source layer, the access layer.

- ``POST /a`` ``{"nik"}``: the resident, then the members of their KK (2 statements);
- ``POST /b``: the first 50 residents by NIK, then the members of their KKs in one ``= ANY($1)``
  (2 statements);
- ``POST /c`` ``{"first"}``: a page of schools by NPSN and their count, the pupils of those schools
  (MariaDB, 3 statements), then the pupils' residents by NIK and the members of their KKs
  (PostgreSQL, 2 statements).

The gateway also reads each KK's family card (``keluarga``: ``family`` is null without one), which a
hand-written endpoint that only returns the KK number can skip; the bench data has a card for every KK.

Run as ``uvicorn bench.floor_bare:app`` with ``FLOOR_REGISTRY_DSN`` (``postgresql://…``) and
``FLOOR_EDUCATION_DSN`` (``mysql://user@host:port/db``) in the environment.
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiomysql
import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

#: Connections per pool: the gateway's SQL sources hold 20 (``pool_size`` default).
POOL_SIZE = 20
#: ``persons(first: 50)`` of query B.
PERSONS_PAGE = 50

_pools: dict[str, Any] = {}


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Open both pools before the first request, close them at shutdown."""

    _pools["pg"] = await asyncpg.create_pool(os.environ["FLOOR_REGISTRY_DSN"], min_size=POOL_SIZE, max_size=POOL_SIZE)
    mysql = urlsplit(os.environ["FLOOR_EDUCATION_DSN"])
    _pools["mysql"] = await aiomysql.create_pool(
        host=mysql.hostname or "127.0.0.1", port=mysql.port or 3306, user=mysql.username or "root",
        password=mysql.password or "", db=mysql.path.lstrip("/"), charset="utf8mb4", autocommit=True,
        minsize=1, maxsize=POOL_SIZE,
    )
    try:
        yield
    finally:
        await _pools.pop("pg").close()
        pool = _pools.pop("mysql")
        pool.close()
        await pool.wait_closed()


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _members_by_kk(rows: Iterable[asyncpg.Record]) -> dict[str, list[dict[str, str]]]:
    """Members rows (ordered by NIK, as the gateway orders them) grouped by KK."""

    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        out[r["no_kk"]].append({"nik": r["nik"], "name": r["nama_lengkap"]})
    return out


async def _members(conn: asyncpg.Connection, kks: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    rows = await conn.fetch(
        "SELECT nik, nama_lengkap, no_kk FROM penduduk WHERE no_kk = ANY($1::bpchar[]) ORDER BY nik", sorted(set(kks))
    )
    return _members_by_kk(rows)


async def person(request: Request) -> Response:
    """Query A: ``person(nik) { nik name family { kk members { nik name } } }``."""

    nik = orjson.loads(await request.body())["nik"]
    async with _pools["pg"].acquire() as conn:
        row = await conn.fetchrow("SELECT nik, nama_lengkap, no_kk FROM penduduk WHERE nik = $1", nik)
        if row is None:
            return _json({"data": {"person": None}})
        members = await conn.fetch("SELECT nik, nama_lengkap FROM penduduk WHERE no_kk = $1 ORDER BY nik", row["no_kk"])
    family = {"kk": row["no_kk"], "members": [{"nik": m["nik"], "name": m["nama_lengkap"]} for m in members]}
    return _json({"data": {"person": {"nik": row["nik"], "name": row["nama_lengkap"], "family": family}}})


async def persons(request: Request) -> Response:
    """Query B: ``persons(first: 50) { edges { node { nik name family { kk members { nik name } } } } }``."""

    async with _pools["pg"].acquire() as conn:
        page = await conn.fetch("SELECT nik, nama_lengkap, no_kk FROM penduduk ORDER BY nik LIMIT $1", PERSONS_PAGE)
        members = await _members(conn, [r["no_kk"] for r in page])
    edges = [
        {"node": {"nik": r["nik"], "name": r["nama_lengkap"], "family": {"kk": r["no_kk"], "members": members[r["no_kk"]]}}}
        for r in page
    ]
    return _json({"data": {"persons": {"edges": edges}}})


async def schools(request: Request) -> Response:
    """Query C: ``schools(first:) { totalCount edges { node { npsn students { nisn person { nik family {
    kk members { nik name } } } } } } }``."""

    first = int(orjson.loads(await request.body())["first"])
    async with _pools["mysql"].acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT npsn FROM sekolah ORDER BY npsn LIMIT %s", (first,))
        npsns = [r[0] for r in await cur.fetchall()]
        await cur.execute("SELECT count(*) FROM sekolah")
        (total,) = await cur.fetchone()
        pupils: list[tuple[str, str | None, str]] = []
        if npsns:
            marks = ", ".join(["%s"] * len(npsns))
            await cur.execute(f"SELECT nisn, nik, npsn FROM peserta_didik WHERE npsn IN ({marks}) ORDER BY nisn", npsns)
            pupils = list(await cur.fetchall())
    niks = sorted({nik for _, nik, _ in pupils if nik is not None})
    async with _pools["pg"].acquire() as conn:
        people = {r["nik"]: r["no_kk"] for r in await conn.fetch(
            "SELECT nik, no_kk FROM penduduk WHERE nik = ANY($1::bpchar[])", niks)}
        members = await _members(conn, list(people.values()))
    by_school: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for nisn, nik, npsn in pupils:
        kk = people.get(nik) if nik is not None else None
        found = None if kk is None else {"nik": nik, "family": {"kk": kk, "members": members[kk]}}
        by_school[npsn].append({"nisn": nisn, "person": found})
    edges = [{"node": {"npsn": npsn, "students": by_school[npsn]}} for npsn in npsns]
    return _json({"data": {"schools": {"totalCount": int(total), "edges": edges}}})


async def healthz(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(
    routes=[
        Route("/a", person, methods=["POST"]),
        Route("/b", persons, methods=["POST"]),
        Route("/c", schools, methods=["POST"]),
        Route("/healthz", healthz),
    ],
    lifespan=lifespan,
)
