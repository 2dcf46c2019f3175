"""How an answer scores against what the generator planted (``Dataset.ground_truth()``).

The suite's recall/precision test (scale 0.1) and ``python -m bench.alerts`` (scale 1.0) score
``absenceAlerts`` with the same arithmetic, here: an outbreak is *found* when an alert falls on
one of its days at its school and rombel; an alert is *planted* when it falls on such a day.
Recall is found outbreaks over planted ones, precision planted alerts over all alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["AlertScore", "score_alerts"]


@dataclass(frozen=True)
class AlertScore:
    """``absenceAlerts`` against the planted outbreaks."""

    alerts: int
    planted_alerts: int
    outbreaks: int
    found: int
    #: Outbreaks no alert fell on (ground-truth entries).
    missed: tuple[Mapping[str, Any], ...]
    #: Alerts on no planted day (the answer's entries).
    unplanted: tuple[Mapping[str, Any], ...]

    @property
    def recall(self) -> float:
        return self.found / self.outbreaks if self.outbreaks else 1.0

    @property
    def precision(self) -> float:
        return self.planted_alerts / self.alerts if self.alerts else 0.0

    def summary(self) -> str:
        return (
            f"{self.alerts} alerts, {self.planted_alerts} on planted outbreak days; recall {self.recall:.0%} "
            f"({self.found}/{self.outbreaks}), precision {self.precision:.0%}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "alerts": self.alerts,
            "planted_alerts": self.planted_alerts,
            "outbreaks": self.outbreaks,
            "found": self.found,
            "recall": self.recall,
            "precision": self.precision,
        }


def score_alerts(alerts: Iterable[Mapping[str, Any]], outbreaks: Iterable[Mapping[str, Any]]) -> AlertScore:
    """Score alerts (each with ``date``, ``rombel`` and ``school { npsn }``) against the ground
    truth's ``outbreaks`` (each with ``npsn``, ``rombel`` and ``dates``)."""

    alerts = list(alerts)
    outbreaks = list(outbreaks)
    planted = {(o["npsn"], o["rombel"], day) for o in outbreaks for day in o["dates"]}
    hit_days = {(a["school"]["npsn"], a["rombel"], a["date"]) for a in alerts} & planted
    hits = [a for a in alerts if (a["school"]["npsn"], a["rombel"], a["date"]) in planted]
    missed = tuple(o for o in outbreaks if not any((o["npsn"], o["rombel"], d) in hit_days for d in o["dates"]))
    return AlertScore(
        alerts=len(alerts),
        planted_alerts=len(hits),
        outbreaks=len(outbreaks),
        found=len(outbreaks) - len(missed),
        missed=missed,
        unplanted=tuple(a for a in alerts if (a["school"]["npsn"], a["rombel"], a["date"]) not in planted),
    )
