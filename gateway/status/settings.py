"""``[status]``: the Smart Center screen at ``/status`` — who may open it, and as whom it reads the graph."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from core import ConfigError

from ..config_types import Bool, Key, ListOf, Number, Str, Table, describe

#: Who may open the screen when ``allow_from`` is not set: this machine only.
LOOPBACK = ("127.0.0.1/32", "::1/128")


@dataclass(frozen=True)
class StatusSettings:
    """The ``[status]`` table (see ``STATUS`` for each key's meaning)."""

    enabled: bool = True
    #: The ``[[clients]]`` id whose role, attributes and audit identity the screen's queries run with.
    client: str | None = None
    #: The ``X-Satudata-Purpose`` its queries state (the role must list it).
    purpose: str | None = None
    #: The regency whose kecamatan the map shows.
    region: str = "35.03"
    #: ``None``: "today" is the latest school day with attendance on or before the date in WIB.
    today: date | None = None
    refresh_s: float = 60.0
    discrepancy_refresh_s: float = 900.0
    heartbeat_s: float = 15.0
    allow_from: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        default_factory=lambda: tuple(ipaddress.ip_network(n) for n in LOOPBACK)
    )

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> StatusSettings:
        table = dict(table or {})
        problems = STATUS.problems(table, "status")
        if problems:
            raise ConfigError(describe(problems))
        values: dict[str, Any] = {k: table[k] for k in ("enabled", "client", "purpose", "region") if k in table}
        for key in ("refresh_s", "discrepancy_refresh_s", "heartbeat_s"):
            if key in table:
                values[key] = float(table[key])
        today = table.get("today", "auto")
        if today != "auto":
            try:
                values["today"] = date.fromisoformat(today)
            except ValueError:
                raise ConfigError(f'status.today must be "auto" or a date (YYYY-MM-DD), not {today!r}') from None
        if "allow_from" in table:
            try:
                values["allow_from"] = tuple(ipaddress.ip_network(n, strict=False) for n in table["allow_from"])
            except ValueError as exc:
                raise ConfigError(f"status.allow_from: {exc}") from None
        return cls(**values)

    def admits(self, host: str | None) -> bool:
        """Whether a peer at ``host`` (the request's client address) may open the screen."""

        if host is None:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.allow_from)


_DEFAULTS = StatusSettings()

STATUS = Table(
    description="The Smart Center screen (`/status`): source health, today's absence alerts per kecamatan and "
    "discrepancy counts per agency, live over SSE. Its data is read through the graph as `client`, under the "
    "policy and the audit like any caller's.",
    example='[status]\nclient = "smart-center"\npurpose = "statistik"\nallow_from = ["10.3.0.0/24", "127.0.0.1/32"]',
    keys=(
        Key("enabled", Bool(), "Serve /status and /status/events.", _DEFAULTS.enabled),
        Key("client", Str(), "The [[clients]] id the screen reads the graph as: its role's policy and row scope hold, "
            "as for any caller of that client. Without a [policy] it is not needed.",
            default_doc="unset: anonymous"),
        Key("purpose", Str(), "The purpose its queries state (one of the role's `purposes`).", default_doc="unset"),
        Key("region", Str(pattern=r"\d{2}\.\d{2}", pattern_doc="a regency code such as \"35.03\""),
            "The regency whose kecamatan the map shows.", _DEFAULTS.region),
        Key("today", Str(), "\"auto\": the latest school day with attendance on or before today's date in WIB "
            "(the demo data's last school day when its term has ended); or a fixed date, YYYY-MM-DD.", "auto"),
        Key("refresh_s", Number(minimum=1), "Seconds between reads of today's alerts while a screen is open.",
            _DEFAULTS.refresh_s),
        Key("discrepancy_refresh_s", Number(minimum=1), "Seconds between discrepancy counts (a walk of the "
            "compared systems) while a screen is open.", _DEFAULTS.discrepancy_refresh_s),
        Key("heartbeat_s", Number(minimum=1), "A screen gets the snapshot again after this many seconds without "
            "a change.", _DEFAULTS.heartbeat_s),
        Key("allow_from", ListOf(Str()), "Client addresses (IP or CIDR) that may open the screen; others get 403. "
            "Behind a proxy, list it in [gateway] trusted_proxies so the client's own address is checked.",
            list(LOOPBACK)),
    ),
)
