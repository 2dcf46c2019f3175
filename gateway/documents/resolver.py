"""``PersistedDocuments``: from a request's ``persistedQuery`` extension to the document it names.

Apollo's automatic persisted queries (APQ), as ``@apollo/client/link/persisted-queries`` speaks them:

1. The client sends ``extensions.persistedQuery = {"version": 1, "sha256Hash": H}`` and no ``query``
   (over GET with ``useGETForHashedQueries``). Known ``H``: the document runs. Unknown: the answer
   is ``PersistedQueryNotFound`` (``PERSISTED_QUERY_NOT_FOUND``) with HTTP 200, as Apollo Server and
   Router answer it, so the link retries.
2. The link retries with ``query`` and the same hash (always POST). If ``H`` is not the SHA-256 of
   ``query``: 400 ``PERSISTED_QUERY_HASH_MISMATCH`` and nothing runs (a hash must never come to
   name another document). Otherwise the document runs like any other, and **once it has run** it
   is registered under ``H``, as Apollo Server does: a document that did not parse, fit the schema
   or pass the caller's limits is never kept. Registering is executing with a hash, so it is under
   the same authentication, rate limit, body size and query limits as every request.

A document that carries values in its text (a string literal, or a run of 8+ digits such as a NIK
written inline) runs but is never registered: a registered document can be asked for by anyone
who knows its hash, and a hash of ``{ person(nik: "…") … }`` is easy to compute for a guessed NIK,
which would tell whether someone looked that person up. Apollo Client sends values as variables.

Trusted documents (``[documents] manifest``) resolve by id before the APQ store. With
``trusted = "require"`` only they are served: an unknown id is 404 ``PERSISTED_QUERY_NOT_IN_LIST``
and any other document 403 ``QUERY_NOT_IN_SAFELIST`` (Apollo Router's codes), both refused before
anything is parsed, except for the roles that may send freeform documents.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..access import Admission
from ..errors import RequestError
from ..http import GraphQLParams
from .manifest import read_manifest, sha256_hex
from .settings import DocumentSettings
from .store import DocumentStore, MemoryDocumentStore, RedisDocumentStore, TieredDocumentStore

#: Apollo Router's value for persisted query errors: a client ahead of the server must not stay stuck on a cached miss.
NO_CACHE = {"cache-control": "private, no-cache, must-revalidate"}
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
#: Values written into a document's text (see the module docstring): it is not registered.
_VALUES_IN_TEXT = re.compile(r'"|\d{8,}')


@dataclass(frozen=True)
class Resolved:
    """A request's parameters with ``query`` filled in, and the hash to register it under once it has run."""

    params: GraphQLParams
    register_as: str | None = None


class PersistedDocuments:
    """Resolves persisted queries and trusted documents; build with ``from_settings`` and ``aclose`` at shutdown."""

    def __init__(
        self, settings: DocumentSettings, store: DocumentStore, *, trusted: Mapping[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        #: The manifest's documents by id (empty without a manifest).
        self.trusted: Mapping[str, str] = trusted or {}

    @classmethod
    def from_settings(cls, settings: DocumentSettings) -> PersistedDocuments:
        """The configured component; reads the manifest now, so a bad one fails start-up."""

        trusted = read_manifest(settings.manifest) if settings.manifest is not None else {}
        memory = MemoryDocumentStore(max_entries=settings.max_entries, max_bytes=settings.max_bytes)
        store: DocumentStore = memory
        if settings.redis_url is not None and settings.apq:
            shared = RedisDocumentStore.from_url(
                settings.redis_url, timeout_s=settings.timeout_s, prefix=settings.redis_prefix, ttl_s=settings.ttl_s
            )
            store = TieredDocumentStore(memory, shared, retry_s=settings.retry_s)
        return cls(settings, store, trusted=trusted)

    @property
    def requires_trusted(self) -> bool:
        return self.settings.trusted == "require"

    async def resolve(self, params: GraphQLParams, admission: Admission | None) -> Resolved:
        """``params`` with the document a persisted query names; a refusal raises ``RequestError``.

        ``params.query`` is empty when the request sent a hash alone (``gateway.http`` reads it so).
        """

        persisted = (params.extensions or {}).get("persistedQuery")
        if persisted is None:
            self._admit_freeform(params.query, admission)
            return Resolved(params)
        if not self.settings.apq and not self.trusted:
            # HTTP 200 with Apollo's words: the link then stops hashing and sends whole documents.
            raise RequestError(200, "PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED")
        document_id = _persisted_hash(persisted)
        rest = {k: v for k, v in (params.extensions or {}).items() if k != "persistedQuery"} or None
        if params.query:
            return self._registration(dataclasses.replace(params, extensions=rest), document_id, admission)
        document = self.trusted.get(document_id)
        if document is None and self.settings.apq:
            document = await self.store.get(document_id)
        if document is not None:
            return Resolved(dataclasses.replace(params, query=document, extensions=rest))
        if not self.settings.apq:
            raise RequestError(
                404,
                f"Persisted query '{document_id}' not found in the persisted query list.",
                "PERSISTED_QUERY_NOT_IN_LIST",
                headers=NO_CACHE,
            )
        raise RequestError(200, "PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND", headers=NO_CACHE)

    async def register(self, resolved: Resolved) -> None:
        """Keep a document that has run under the hash it came with (nothing for any other request)."""

        if resolved.register_as is not None:
            await self.store.put(resolved.register_as, resolved.params.query)

    async def aclose(self) -> None:
        await self.store.aclose()

    def _registration(self, params: GraphQLParams, document_id: str, admission: Admission | None) -> Resolved:
        if sha256_hex(params.query) != document_id:
            # Apollo Server's words; the code is what Apollo Router and most servers send.
            raise RequestError(400, "provided sha does not match query", "PERSISTED_QUERY_HASH_MISMATCH")
        if document_id in self.trusted:
            return Resolved(params)
        self._admit_freeform(params.query, admission)
        if not self.settings.apq or not self._registrable(params.query):
            return Resolved(params)
        return Resolved(params, register_as=document_id)

    def _registrable(self, document: str) -> bool:
        small = len(document.encode("utf-8")) <= self.settings.max_document_bytes
        return small and not _VALUES_IN_TEXT.search(document)

    def _admit_freeform(self, document: str, admission: Admission | None) -> None:
        """With ``trusted = "require"``, refuse a document outside the manifest unless the role may send one."""

        if not self.requires_trusted or self._may_send_freeform(admission) or sha256_hex(document) in self.trusted:
            return
        raise RequestError(
            403,
            "This gateway serves trusted documents only, and this document is not in its persisted query list; "
            "send an operation from the client's manifest (by its id in extensions.persistedQuery).",
            "QUERY_NOT_IN_SAFELIST",
            headers=NO_CACHE,
        )

    def _may_send_freeform(self, admission: Admission | None) -> bool:
        if admission is None:
            return False
        role = admission.access.role
        # A router's query planner writes the documents it sends to _entities: no manifest can list them.
        return role.name in self.settings.freeform_roles or role.may("federation")


def _persisted_hash(persisted: Any) -> str:
    if not isinstance(persisted, dict):
        raise RequestError(400, "`extensions.persistedQuery` must be an object with `version` and `sha256Hash`.")
    if persisted.get("version") != 1:
        raise RequestError(400, "Unsupported persisted query version: only version 1 is supported.")
    document_id = persisted.get("sha256Hash")
    if not isinstance(document_id, str) or not _SHA256_HEX.match(document_id):
        raise RequestError(400, "`extensions.persistedQuery.sha256Hash` must be a SHA-256 in 64 lowercase hex digits.")
    return document_id
