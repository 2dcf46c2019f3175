"""``CaptureSettings``: one source's ``[sources.NAME.changes]`` table, read once at start-up.

The config tree (``gateway.config_schema``) checks the table's shape; this reads it into a frozen
value and checks what a type cannot say (a webhook without a secret, a region transform that
does not exist).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core import ConfigError

from ..mapping import TRANSFORMS
from ..settings import absolute_sqlite_url, resolve_env

#: ``kind`` of a SQL source's capture: watermark polling, or polling woken by LISTEN/NOTIFY.
SQL_KINDS = ("poll", "notify")
#: ``kind`` of a REST source's capture: conditional polling, or the OPD pushes to our webhook.
REST_KINDS = ("poll", "webhook")

DEFAULT_INTERVAL_S = 2.0
#: With ``kind = "notify"`` a poll still runs this often, for notices sent while not listening.
DEFAULT_NOTIFY_INTERVAL_S = 30.0
DEFAULT_BATCH = 500
DEFAULT_TIMEZONE = "Asia/Jakarta"
DEFAULT_CHANNEL = "satudata_changes"
DEFAULT_BORN_WITHIN_DAYS = 60
DEFAULT_WEBHOOK_TOLERANCE_S = 300.0


@dataclass(frozen=True)
class EventsTable:
    """The registry's own record of civil events (SIAK's *mutasi*): the kind of a change, and
    the old desa of a move, which the resident's row no longer holds."""

    table: str
    key: str
    at_column: str
    from_column: str | None = None
    to_column: str | None = None
    kind_column: str | None = None
    #: The table's event codes -> the entity's change kinds (``PINDAH = "MOVED"``).
    kinds: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CaptureSettings:
    """How one source's changes are noticed. Column names are the source's own."""

    source: str
    kind: str
    entity: str
    key: str
    region: str
    interval_s: float
    #: SQL: the table and its change column (``tgl_update``); REST: the list's path and the
    #: record's change field (``None``: every record not seen at the last position is new).
    table: str = ""
    change: str | None = None
    batch: int = DEFAULT_BATCH
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    default_kind: str = "UPDATED"
    #: Source format of region codes -> the vocabulary's dotted Kemendagri code.
    region_transform: str | None = None
    # -- residents' kinds (SQL) -----------------------------------------------------------
    born_column: str | None = None
    born_within_days: int = DEFAULT_BORN_WITHIN_DAYS
    status_column: str | None = None
    died_values: tuple[str, ...] = ()
    moved_away_values: tuple[str, ...] = ()
    events: EventsTable | None = None
    # -- where -----------------------------------------------------------------------------
    url: str = ""
    channel: str = DEFAULT_CHANNEL
    # -- REST -----------------------------------------------------------------------------
    records: str | None = None
    since_param: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    # -- webhook --------------------------------------------------------------------------
    secret: str = ""
    tolerance_s: float = DEFAULT_WEBHOOK_TOLERANCE_S

    def to_region(self, value: Any) -> str:
        text = "" if value is None else str(value).strip()
        if self.region_transform is not None and text:
            return str(TRANSFORMS[self.region_transform].to_vocabulary(text))
        return text

    @classmethod
    def from_source(cls, name: str, source: Mapping[str, Any], *, base_dir: Path | None = None) -> CaptureSettings | None:
        """The ``changes`` table of ``[sources.NAME]``, or ``None`` when it has none."""

        raw = source.get("changes")
        if raw is None:
            return None
        where = f"sources.{name}.changes"
        source_kind = source.get("kind")
        kinds = SQL_KINDS if source_kind == "sql" else REST_KINDS if source_kind == "rest" else ()
        kind = raw.get("kind", "poll")
        if kind not in kinds:
            raise ConfigError(
                f"{where}.kind is {kind!r}; a {source_kind} source's changes can be captured by one of {list(kinds)}"
            )
        try:
            zone = ZoneInfo(str(raw.get("timezone", DEFAULT_TIMEZONE)))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{where}.timezone {raw.get('timezone')!r} is not a known time zone (e.g. Asia/Jakarta)") from None
        transform = raw.get("region_transform")
        if transform is not None and transform not in TRANSFORMS:
            raise ConfigError(f"{where}.region_transform {transform!r} is unknown; choose one of {sorted(TRANSFORMS)}")
        events = raw.get("events")
        default_interval = DEFAULT_NOTIFY_INTERVAL_S if kind == "notify" else DEFAULT_INTERVAL_S
        secret = ""
        if kind == "webhook":
            secret = resolve_env(f"{where}.secret", raw.get("secret"))
            if len(secret) < 16:
                raise ConfigError(f"{where}.secret is too short: use at least 16 characters (`satudata keygen-secret`)")
        url = ""
        if source_kind == "sql":
            # A relative SQLite path is beside the config file, as the source's connector reads it.
            url = absolute_sqlite_url(resolve_env(f"{where}.url", raw.get("url", source.get("url"))), base_dir)
        elif source_kind == "rest":
            url = resolve_env(f"sources.{name}.base_url", source.get("base_url"))
        return cls(
            source=name,
            kind=kind,
            entity=str(raw["entity"]),
            # A REST record without an id of its own is known by several fields (joined by ","):
            key=",".join(map(str, raw["key"])) if isinstance(raw["key"], list) else str(raw["key"]),
            region=str(raw["region"]),
            interval_s=float(raw.get("interval_s", default_interval)),
            table=str(raw.get("table", raw.get("path", ""))),
            change=raw.get("change"),
            batch=int(raw.get("batch", DEFAULT_BATCH)),
            timezone=zone,
            default_kind=str(raw.get("default_kind", "UPDATED" if source_kind == "sql" else "ADDED")),
            region_transform=transform,
            born_column=raw.get("born_column"),
            born_within_days=int(raw.get("born_within_days", DEFAULT_BORN_WITHIN_DAYS)),
            status_column=raw.get("status_column"),
            died_values=tuple(raw.get("died_values", ())),
            moved_away_values=tuple(raw.get("moved_away_values", ())),
            events=None if events is None else EventsTable(
                table=str(events["table"]), key=str(events["key"]), at_column=str(events["at_column"]),
                from_column=events.get("from_column"), to_column=events.get("to_column"),
                kind_column=events.get("kind_column"), kinds=dict(events.get("kinds", {})),
            ),
            url=url,
            channel=str(raw.get("channel", DEFAULT_CHANNEL)),
            records=raw.get("records"),
            since_param=raw.get("since_param"),
            params=dict(raw.get("params", {})),
            secret=secret,
            tolerance_s=float(raw.get("tolerance_s", DEFAULT_WEBHOOK_TOLERANCE_S)),
        )
