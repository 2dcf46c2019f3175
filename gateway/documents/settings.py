"""The ``[documents]`` table: automatic persisted queries and trusted documents, checked at start-up."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from connectors import resolve_env
from core import ConfigError

from ..config_types import ENV, SECONDS, Bool, Choice, Int, Key, ListOf, Str, Table, describe

#: ``"allow"``: manifest operations resolve by id, and any other document is served as usual.
#: ``"require"``: only documents in the manifest are served (an allow-list).
Trust = Literal["allow", "require"]


@dataclass(frozen=True)
class DocumentSettings:
    """What ``[documents]`` says; every key is optional."""

    #: Automatic persisted queries (Apollo's protocol). Default: on, unless ``trusted = "require"``.
    apq: bool = True
    #: An Apollo persisted query manifest (``generate-persisted-query-manifest``), relative to the config file.
    manifest: Path | None = None
    #: What the manifest is for (see ``Trust``); ``"allow"`` when a manifest is given, else nothing.
    trusted: Trust | None = None
    #: With ``trusted = "require"``: roles that may still send documents outside the manifest. Roles that
    #: may ``federation`` always may (a router's query planner writes their documents at run time).
    freeform_roles: frozenset[str] = frozenset()
    #: Documents this process keeps in memory (least recently used go first). Default 10,000.
    max_entries: int = 10_000
    #: Bytes of document text this process keeps in memory. Default 16 MiB.
    max_bytes: int = 16 * 1024 * 1024
    #: A longer document is executed but never registered, in memory or in Redis. Default 64 KiB.
    max_document_bytes: int = 64 * 1024
    #: ``redis://…`` to share registered documents between replicas; None keeps them per process.
    redis_url: str | None = None
    #: Prefix of the Redis keys (one key per document: prefix + its SHA-256).
    redis_prefix: str = "satudata:apq:"
    #: Seconds a document stays in Redis after it was last registered or looked up. Default 1 day.
    ttl_s: int = 86_400
    #: Longest a Redis call may take before this process answers from its own memory.
    timeout_s: float = 0.25
    #: After Redis failed, how long to use memory alone before trying Redis again.
    retry_s: float = 5.0

    @classmethod
    def from_config(
        cls, table: Mapping[str, Any] | None, *, base_dir: Path | None = None, roles: Collection[str] | None = None
    ) -> DocumentSettings:
        """Read ``[documents]``; a wrong key or value raises ``ConfigError`` naming it.

        ``roles`` are the policy's role names, which ``freeform_roles`` must come from.
        """

        table = dict(table or {})
        problems = DOCUMENTS.problems(table, "documents")
        if problems:
            raise ConfigError(describe(problems))
        manifest = _manifest_path(table.get("manifest"), base_dir)
        trusted = _trusted(table.get("trusted"), manifest)
        apq = table.get("apq", trusted != "require")
        if not isinstance(apq, bool):
            raise ConfigError(f"documents.apq must be true or false, not {apq!r}")
        if apq and trusted == "require":
            # As in Apollo Router: a client that may register documents at run time defeats an allow-list.
            raise ConfigError(
                'documents.apq = true cannot go with trusted = "require": registering documents at run time '
                "would let any client extend the allow-list; drop apq or use trusted = \"allow\""
            )
        url = table.get("redis_url")
        prefix = table.get("redis_prefix", cls.redis_prefix)
        if not isinstance(prefix, str) or not prefix:
            raise ConfigError(f"documents.redis_prefix must be a non-empty string, not {prefix!r}")
        return cls(
            apq=apq,
            manifest=manifest,
            trusted=trusted,
            freeform_roles=_freeform_roles(table.get("freeform_roles", []), trusted, roles),
            max_entries=_count(table, "max_entries", cls.max_entries),
            max_bytes=_count(table, "max_bytes", cls.max_bytes),
            max_document_bytes=_count(table, "max_document_bytes", cls.max_document_bytes),
            redis_url=None if url is None else resolve_env("documents.redis_url", url),
            redis_prefix=prefix,
            ttl_s=_count(table, "ttl_s", cls.ttl_s),
            timeout_s=_seconds(table, "timeout_s", cls.timeout_s),
            retry_s=_seconds(table, "retry_s", cls.retry_s),
        )


#: The ``[documents]`` table's keys (in the config tree, ``gateway.config_schema``).
DOCUMENTS = Table(
    description="Automatic persisted queries (APQ) and trusted documents.",
    keys=(
        Key("apq", Bool(), "Automatic persisted queries.", default_doc='`true`, unless trusted = "require"'),
        Key("manifest", Str(), "An Apollo persisted query manifest, relative to the config file."),
        Key("trusted", Choice(("allow", "require")), '"require": serve only the manifest\'s documents.',
            default_doc='`"allow"` with a manifest'),
        Key("freeform_roles", ListOf(Str()), 'With trusted = "require": roles that may still send other '
            "documents.", []),
        Key("max_entries", Int(minimum=1), "Documents kept in memory.", DocumentSettings.max_entries),
        Key("max_bytes", Int(minimum=1), "Bytes of document text kept in memory.", DocumentSettings.max_bytes),
        Key("max_document_bytes", Int(minimum=1), "A longer document is executed but never registered.",
            DocumentSettings.max_document_bytes),
        Key("redis_url", ENV, "Share registered documents between replicas.", default_doc="per process"),
        Key("redis_prefix", Str(), "Prefix of the Redis keys.", DocumentSettings.redis_prefix),
        Key("ttl_s", Int(minimum=1), "Seconds a document stays in Redis after its last use.",
            DocumentSettings.ttl_s),
        Key("timeout_s", SECONDS, "Longest a Redis call may take.", DocumentSettings.timeout_s),
        Key("retry_s", SECONDS, "After Redis failed, how long to use memory alone.", DocumentSettings.retry_s),
    ),
)


def _manifest_path(value: Any, base_dir: Path | None) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"documents.manifest must be the path of a persisted query manifest (JSON), not {value!r}")
    path = Path(value)
    return path if path.is_absolute() or base_dir is None else base_dir / path


def _trusted(value: Any, manifest: Path | None) -> Trust | None:
    if value is None:
        return "allow" if manifest is not None else None
    if value not in ("allow", "require"):
        raise ConfigError(f'documents.trusted must be "allow" or "require", not {value!r}')
    if manifest is None:
        raise ConfigError(
            f'documents.trusted = "{value}" needs documents.manifest: the file that lists the trusted documents'
        )
    return value  # type: ignore[no-any-return]


def _freeform_roles(value: Any, trusted: Trust | None, roles: Collection[str] | None) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise ConfigError(f"documents.freeform_roles must be a list of role names, not {value!r}")
    if value and trusted != "require":
        raise ConfigError('documents.freeform_roles only means something with trusted = "require"')
    unknown = sorted(set(value) - set(roles)) if roles is not None else []
    if unknown:
        known = sorted(roles or ())
        raise ConfigError(f"documents.freeform_roles: {unknown} are not roles of [policy.roles]; known: {known}")
    return frozenset(value)


def _count(table: Mapping[str, Any], key: str, default: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"documents.{key} must be a whole number of at least 1, not {value!r}")
    return value


def _seconds(table: Mapping[str, Any], key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"documents.{key} must be a positive number of seconds, not {value!r}")
    return float(value)
