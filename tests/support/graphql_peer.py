"""Another portal's GraphQL API, for the remote GraphQL connector's tests.

A strawberry Federation 2 subgraph over the same residents as the SQL and REST connector
tests, in the peer's own (Indonesian) field names, with every way a peer offers its records:

- ``warga(first, after, nikIn, wilayahPrefix, jk)``: a Relay connection;
- ``wargaHalaman(offset, limit, jk)``: a plain list paged by offset;
- ``wargaByNik(nik: ID!)``: one resident by key, null when unknown;
- ``_entities`` / ``_service``: Apollo Federation lookups (``Warga @key(fields: "nik")``).

Residents live at ``alamat { desa { kode } }`` so that mapped paths are nested. The peer
records what it was asked: ``requests`` (one entry per HTTP request: the document and its
variables) and ``selections`` (the fields each root field selected on ``Warga``), so tests
can count round-trips and check that only mapped fields are forwarded.

``serve_peer()`` runs it with uvicorn on 127.0.0.1 in a daemon thread.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import strawberry
from strawberry.asgi import GraphQL
from strawberry.types import Info
from strawberry.types.nodes import SelectedField

from .server import serve_app

#: (nik, nama, jk, lahir, wilayah, status), as in tests/connectors/test_sql_connector.py.
Row = tuple[str, str, str, str, str, str]


@dataclass
class PeerLog:
    requests: list[dict[str, Any]] = field(default_factory=list)
    selections: list[set[str]] = field(default_factory=list)


@strawberry.type
class Desa:
    kode: str
    nama: str


@strawberry.type
class Alamat:
    jalan: str | None
    desa: Desa


@strawberry.federation.type(keys=["nik"])
class Warga:
    nik: strawberry.ID
    nama: str
    jk: str
    lahir: date
    status: str
    alamat: Alamat
    catatan: str | None  # never mapped: a forwarded selection must not ask for it

    @classmethod
    def resolve_reference(cls, info: Info, nik: strawberry.ID) -> Warga | None:
        _record_selection(info)
        return info.context["peer"].by_nik.get(str(nik))


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class WargaEdge:
    cursor: str
    node: Warga


@strawberry.type
class WargaConnection:
    edges: list[WargaEdge]
    page_info: PageInfo


def _record_selection(info: Info) -> None:
    info.context["log"].selections.append(_paths(info.selected_fields))


def _paths(fields: Sequence[Any], prefix: str = "") -> set[str]:
    """Dotted paths of the leaf fields selected below ``fields`` (connection wrappers skipped)."""

    found: set[str] = set()
    for f in fields:
        if not isinstance(f, SelectedField):
            found |= _paths(f.selections, prefix)  # fragments
            continue
        if f.name in ("warga", "wargaHalaman", "wargaByNik", "_entities", "edges", "node"):
            found |= _paths(f.selections, prefix)
        elif f.name in ("pageInfo", "__typename"):
            continue
        elif f.selections:
            found |= _paths(f.selections, f"{prefix}{f.name}.")
        else:
            found.add(prefix + f.name)
    return found


def _select(info: Info, jk: str | None, nik_in: list[str] | None = None, wilayah_prefix: str | None = None) -> list[Warga]:
    _record_selection(info)
    rows = info.context["peer"].people
    if nik_in is not None:
        rows = [w for w in rows if w.nik in nik_in]
    if wilayah_prefix is not None:
        rows = [w for w in rows if w.alamat.desa.kode.startswith(wilayah_prefix)]
    if jk is not None:
        rows = [w for w in rows if w.jk == jk]
    # The peer's own order (by name), not the key's: the connector must not rely on it.
    return sorted(rows, key=lambda w: w.nama)


def _cursor(index: int) -> str:
    return base64.b64encode(f"warga:{index}".encode()).decode()


@strawberry.type
class Query:
    @strawberry.field
    def warga(
        self,
        info: Info,
        first: int = 10,
        after: str | None = None,
        nik_in: list[str] | None = None,
        wilayah_prefix: str | None = None,
        jk: str | None = None,
    ) -> WargaConnection:
        rows = _select(info, jk, nik_in, wilayah_prefix)
        start = 0 if after is None else int(base64.b64decode(after).decode().split(":")[1]) + 1
        page = rows[start : start + first]
        edges = [WargaEdge(cursor=_cursor(start + i), node=w) for i, w in enumerate(page)]
        return WargaConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=start + first < len(rows), end_cursor=edges[-1].cursor if edges else None),
        )

    @strawberry.field
    def warga_halaman(self, info: Info, offset: int, limit: int, jk: str | None = None) -> list[Warga]:
        return _select(info, jk)[offset : offset + limit]

    @strawberry.field
    def warga_by_nik(self, info: Info, nik: strawberry.ID) -> Warga | None:
        _record_selection(info)
        return info.context["peer"].by_nik.get(str(nik))


class Peer:
    """The subgraph's data and its ASGI app (one instance per test)."""

    def __init__(self, rows: Sequence[Row]) -> None:
        self.log = PeerLog()
        self.people = [
            Warga(
                nik=strawberry.ID(nik),
                nama=nama,
                jk=jk,
                lahir=date.fromisoformat(lahir),
                status=status,
                alamat=Alamat(jalan=None, desa=Desa(kode=wilayah, nama=f"Desa {wilayah}")),
                catatan="internal",
            )
            for nik, nama, jk, lahir, wilayah, status in rows
        ]
        self.by_nik = {w.nik: w for w in self.people}
        schema = strawberry.federation.Schema(query=Query, types=[Warga], federation_version="2.11")
        peer = self

        class App(GraphQL):  # type: ignore[type-arg]
            async def get_context(self, request: Any, response: Any) -> dict[str, Any]:
                return {"peer": peer, "log": peer.log}

        graphql_app = App(schema, graphql_ide=None)

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return await graphql_app(scope, receive, send)
            chunks: list[bytes] = []

            async def recording_receive() -> Any:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    body = b"".join(chunks)
                    self.log.requests.append({"headers": dict(scope["headers"]), **(json.loads(body) if body else {})})
                return message

            await graphql_app(scope, recording_receive, send)

        self.app = app


@contextmanager
def serve_peer(rows: Sequence[Row]) -> Iterator[tuple[Peer, str]]:
    """The peer on a real socket: yields it and its ``/graphql`` URL."""

    peer = Peer(rows)
    with serve_app(peer.app, name="graphql-peer", lifespan="off") as url:
        yield peer, f"{url}/graphql"
