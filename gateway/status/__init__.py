"""The Smart Center screen (``/status``): source health, today's absence alerts on a map of the
kecamatan, and discrepancy counts per agency, live over SSE (issue 12).

``build(...)`` wires it into an app: the screen's data is read through the graph as the ``[status]
client`` (``graph``), composed into one snapshot per process (``screen``), and served with its page
and files (``routes``). ``readiness`` is the reading of the sources ``/readyz`` answers with.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

from connectors import ConnectorRegistry
from core import ConfigError, SatudataError

from ..access import AccessControl
from ..subscriptions import Operations
from .graph import StatusReader, configured_principal
from .readiness import Readiness, health_json, readiness
from .routes import status_routes
from .screen import StatusScreen
from .settings import STATUS, StatusSettings


def build(
    raw: Mapping[str, Any],
    *,
    registry: ConnectorRegistry,
    operations: Operations,
    access: AccessControl | None,
    base_dir: Path | None = None,
) -> tuple[StatusScreen, list[BaseRoute]]:
    """The screen and its routes from the config's ``[status]``; raises ``ConfigError`` before serving
    when its client is unknown or its purpose is not one the client's role may state."""

    settings = StatusSettings.from_config(raw.get("status"))
    principal = configured_principal(raw, settings.client, base_dir=base_dir)
    reader = StatusReader(operations, access, principal, settings.purpose)
    if settings.enabled:
        _check_admission(reader)
    screen = StatusScreen(settings, reader, sources=registry.sources, health=registry.health)
    registry.observe_health(screen.health_changed)
    return screen, status_routes(settings, screen)


def _check_admission(reader: StatusReader) -> None:
    try:
        reader.admission()
    except SatudataError as exc:
        raise ConfigError(f"status: the screen's client may not read as configured: {exc.message}") from None


__all__ = ["STATUS", "Readiness", "StatusScreen", "StatusSettings", "build", "health_json", "readiness"]
