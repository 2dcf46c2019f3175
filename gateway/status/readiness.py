"""The sources' readiness as ``/readyz`` answers it, and as the Smart Center screen shows it: one reading."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from connectors import SourceHealth


@dataclass(frozen=True)
class Readiness:
    """Every source's health as the gateway last saw it (no source is called), and the verdict."""

    #: ``ok`` (every source up), ``degraded``, or ``down`` (every source down).
    status: str
    sources: list[dict[str, object]]

    @property
    def http_status(self) -> int:
        return 503 if self.status == "down" else 200


def readiness(health: Sequence[SourceHealth]) -> Readiness:
    sources = [health_json(h) for h in health]
    states = {s["state"] for s in sources}
    status = "down" if states == {"down"} else "ok" if states <= {"up"} else "degraded"
    return Readiness(status, sources)


def health_json(health: SourceHealth) -> dict[str, object]:
    def iso(ts: float | None) -> str | None:
        return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")

    return {
        "name": health.name,
        "state": health.state,
        "breaker": health.breaker,
        "consecutiveFailures": health.consecutive_failures,
        "lastError": health.last_error,
        "lastErrorCode": health.last_error_code,
        "lastErrorAt": iso(health.last_error_at),
        "lastSuccessAt": iso(health.last_success_at),
    }
