"""Persisted documents: Apollo's automatic persisted queries (APQ) and trusted documents.

```toml
[documents]
apq = true                          # APQ (Apollo's protocol); default true, false with trusted = "require"
max_entries = 10000                 # documents each process keeps in memory (least recently used go first)
max_bytes = 16777216                # ... and bytes of their text (16 MiB)
max_document_bytes = 65536          # a longer document runs but is never registered
redis_url = "env:REDIS_URL"         # optional: replicas share registered documents through Redis
redis_prefix = "satudata:apq:"      # one key per document: prefix + SHA-256
ttl_s = 86400                       # a Redis key expires this long after it was last registered or read
timeout_s = 0.25                    # longest a Redis call may take before memory answers alone
retry_s = 5                         # after Redis failed, memory alone for this long

manifest = "persisted-query-manifest.json"  # trusted documents (generate-persisted-query-manifest)
trusted = "require"                 # "allow" (the default with a manifest): manifest ids resolve, other
                                    # documents still run; "require": only manifest documents are served
freeform_roles = ["smart_center_analyst"]   # with "require": roles that may still send other documents
```

``GraphQLEndpoint`` hands every request's parameters to ``PersistedDocuments.resolve`` after
reading them and before executing; what comes back is a ``GraphQLParams`` with ``query`` filled
in, so the rest of the pipeline (limits, policy, audit, the parse cache) sees an ordinary request.
``resolver`` tells the protocol, ``store`` where registered documents live, ``manifest`` the file.
"""

from .manifest import read_manifest, sha256_hex
from .resolver import NO_CACHE, PersistedDocuments, Resolved
from .settings import DocumentSettings, Trust
from .store import DocumentStore, MemoryDocumentStore, RedisDocumentStore, StoreUnavailable, TieredDocumentStore

__all__ = [
    "NO_CACHE",
    "DocumentSettings",
    "DocumentStore",
    "MemoryDocumentStore",
    "PersistedDocuments",
    "RedisDocumentStore",
    "Resolved",
    "StoreUnavailable",
    "TieredDocumentStore",
    "Trust",
    "read_manifest",
    "sha256_hex",
]
