"""Trusted documents: an Apollo persisted query manifest, read once at start-up.

The format is the one ``generate-persisted-query-manifest`` (``@apollo/generate-persisted-query-manifest``)
writes and Apollo Router reads::

    {"format": "apollo-persisted-query-manifest", "version": 1,
     "operations": [{"id": "<sha256 of body>", "name": "Agencies", "type": "query", "body": "query Agencies { … }"}]}

Each ``id`` must be the SHA-256 (hex) of its ``body``, the generator's default: then a manifest id
and an APQ hash are one and the same, and Apollo Client's persisted query link finds a trusted
document by the hash it computes itself. A manifest made with a custom ``createOperationId`` is
refused at start-up rather than half-working.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from core import ConfigError

FORMAT = "apollo-persisted-query-manifest"
OPERATION_TYPES = ("query", "mutation", "subscription")


def sha256_hex(document: str) -> str:
    """The id of a document, as APQ clients and the manifest generator compute it."""

    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def read_manifest(path: Path) -> Mapping[str, str]:
    """The manifest's documents by id; a missing, malformed or inconsistent file raises ``ConfigError``."""

    where = f"documents.manifest {path}"
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist; generate it with generate-persisted-query-manifest") from None
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f'{where} is not a persisted query manifest: expected {{"format": "{FORMAT}", ...}}')
    if data.get("version") != 1:
        raise ConfigError(f"{where}: version {data.get('version')!r} is not supported (only 1)")
    operations = data.get("operations")
    if not isinstance(operations, list):
        raise ConfigError(f"{where}: `operations` must be a list")
    documents: dict[str, str] = {}
    for index, operation in enumerate(operations):
        document_id, body = _operation(operation, f"{where}, operations[{index}]")
        documents[document_id] = body
    return documents


def _operation(operation: Any, where: str) -> tuple[str, str]:
    if not isinstance(operation, dict):
        raise ConfigError(f"{where} must be an object with id, name, type and body")
    document_id, body = operation.get("id"), operation.get("body")
    if not isinstance(body, str) or not body.strip():
        raise ConfigError(f"{where}: `body` must be a non-empty GraphQL document")
    if not isinstance(document_id, str):
        raise ConfigError(f"{where}: `id` must be a string")
    name = operation.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{where}: `name` must be a string")
    if operation.get("type", "query") not in OPERATION_TYPES:
        raise ConfigError(f"{where}: `type` must be one of {list(OPERATION_TYPES)}, not {operation.get('type')!r}")
    expected = sha256_hex(body)
    if document_id != expected:
        label = f" ({name})" if name else ""
        raise ConfigError(
            f"{where}{label}: id {document_id!r} is not the SHA-256 of its body ({expected}); the gateway "
            "looks documents up by that hash, so generate the manifest with the default operation ids"
        )
    return document_id, body
