"""The absence-alert method: a Poisson limit on each unit's own moving baseline, adjusted for the
day's regency-wide level, held two days, and confirmed by a cluster of the same pupils.

Pure functions over one unit's daily counts (a school's, or one rombel's, pupils sick or absent
per school day); no source, no GraphQL. ``resolvers.signals.alerts`` feeds them the counts the
education office computed (``GROUP BY`` at the source) and turns the result into the schema's
``AbsenceAlert``.

The method, as public-health surveillance of counts does it (a Poisson threshold on a moving
baseline, the EARS family's layout of baseline and guard band):

- **baseline**: the mean (and sample standard deviation, shown) of the unit's counts on the
  ``baseline_days`` school days that end ``guard_days`` school days before the day tested; the
  guard band keeps the first days of a rise out of its own baseline;
- **day factor** (``day_effect``): the rest of the regency's rate that day (pupils counted over
  pupils recorded, at every school but the unit's own) over its rate on the unit's baseline days.
  A rise that every school shares (the rainy season setting in, a regency-wide epidemic week) is
  the day's, not the unit's; an outbreak is local, and the unit's own school is left out of the
  reference so that it cannot raise its own expected count. This is the common-mode adjustment of
  syndromic surveillance (an expected count from the unit's history scaled by the day's level);
- **expected count**: the baseline mean times the day factor, raised to ``min_mean``, so a class
  that is never ill does not alert on two pupils;
- **limit**: the smallest count ``k`` with ``P(X >= k) <= alpha`` for ``X ~ Poisson(expected)``;
- **exceedance**: a day whose count reaches both the limit and ``min_count``;
- **alert**: an exceedance on ``persistence`` consecutive school days, the day tested last. One
  pupil off sick with a long illness, or a bad day, is common in a class; the same class far above
  its own level on consecutive days is what an outbreak looks like, and what one-day rules
  (EARS C1/C2) cannot tell from noise at class size;
- **cluster**: the alert stands only when at least ``cluster_min`` pupils of the unit were off on
  *each* of its last ``cluster_days`` school days: the same children, not a daily sum. An outbreak
  keeps its cases at home for days; the ordinary ebb and flow of a class's sick days brings new
  pupils in and others back, so a day's count that reaches the limit is confirmed by who it counts.
  This is the case definition of a cluster (cases linked in place and time), read from the
  attendance itself. It is what tells a run of ordinary bad days at the limit from an outbreak
  with the same daily counts, which no rule on the counts alone can: the counts are the screen,
  the cluster the confirmation (``cluster_min = 0`` leaves the screen alone).

A unit with fewer than ``baseline_days`` school days before the guard band has no baseline and
raises nothing: a school's own baseline needs some weeks of data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

METHOD = "POISSON_MOVING_BASELINE"
#: The attendance statuses that may be counted.
STATUSES = ("SICK", "ABSENT", "PERMITTED")


@dataclass(frozen=True, slots=True)
class Parameters:
    """The method's parameters (``[signals.absence]`` in the config tree)."""

    baseline_days: int = 15
    guard_days: int = 2
    alpha: float = 2e-3
    min_mean: float = 0.75
    min_count: int = 4
    persistence: int = 2
    #: Scale each day's expected count by the day factor (the rest of the regency's level that day
    #: over its level on the baseline days); off, the expected count is the baseline mean alone.
    day_effect: bool = True
    #: Which attendance statuses count (``SICK``, ``ABSENT``, ``PERMITTED``): sick pupils by default,
    #: since alpa and izin add their own noise to a class's count and say nothing of illness.
    statuses: tuple[str, ...] = ("SICK",)
    #: School days, up to the alert day, on each of which the same pupils must have been counted.
    cluster_days: int = 3
    #: Pupils counted on each of the last ``cluster_days`` school days that confirm an alert; 0: no cluster test.
    cluster_min: int = 5

    def __post_init__(self) -> None:
        if self.baseline_days < 2:
            raise ValueError("baseline_days must be at least 2")
        if self.guard_days < 0:
            raise ValueError("guard_days must not be negative")
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must lie between 0 and 1")
        if self.min_mean <= 0:
            raise ValueError("min_mean must be positive")
        if self.min_count < 1:
            raise ValueError("min_count must be at least 1")
        if self.persistence < 1:
            raise ValueError("persistence must be at least 1")
        if self.cluster_days < 1:
            raise ValueError("cluster_days must be at least 1")
        if self.cluster_min < 0:
            raise ValueError("cluster_min must not be negative")
        if not self.statuses or any(s not in STATUSES for s in self.statuses):
            raise ValueError(f"statuses must be some of {', '.join(STATUSES)}")

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None) -> Parameters:
        """From ``[signals.absence]`` (checked by the config tree first); the defaults where a key is missing."""

        values = dict(raw or {})
        if "statuses" in values:
            values["statuses"] = tuple(values["statuses"])
        return cls(**values)

    @property
    def lookback(self) -> int:
        """School days before the first day tested that the baseline reads."""

        return self.baseline_days + self.guard_days + max(self.persistence, self.cluster_days) - 1


@dataclass(frozen=True, slots=True)
class Exceedance:
    """One day of one unit tested against its baseline."""

    day: date
    count: int
    mean: float
    sd: float
    threshold: int
    #: The day factor applied (1.0 with ``day_effect`` off or no reference).
    factor: float = 1.0
    #: The expected count the limit was computed from: ``max(mean * factor, min_mean)``.
    expected: float = 0.0


def poisson_limit(mean: float, alpha: float) -> int:
    """The smallest ``k`` with ``P(X >= k) <= alpha`` for ``X ~ Poisson(mean)``."""

    if mean <= 0:
        return 1
    term = math.exp(-mean)  # P(X = 0)
    below = 0.0  # P(X < k)
    k = 0
    while 1.0 - below > alpha:
        below += term
        k += 1
        term *= mean / k
        if term == 0.0 and k > mean:  # numerically done: the tail is below alpha
            break
    return k


def baseline(counts: Sequence[int], t: int, params: Parameters) -> tuple[float, float] | None:
    """Mean and sample sd of the baseline window for day ``t``; ``None`` when there is not enough history."""

    end = t - params.guard_days
    start = end - params.baseline_days
    if start < 0:
        return None
    window = counts[start:end]
    n = len(window)
    mean = sum(window) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in window) / (n - 1))
    return mean, sd


@dataclass(frozen=True, slots=True)
class Reference:
    """The level the unit's days are compared with: pupils counted and pupils recorded per school day
    of the unit, summed over the rest of the regency's schools (aligned with the unit's days)."""

    counted: Sequence[int]
    recorded: Sequence[int]


def day_factor(reference: Reference | None, t: int, params: Parameters) -> float:
    """The reference's rate on day ``t`` over its rate on day ``t``'s baseline days; 1.0 when there is
    no reference, the day effect is off, or either rate is not defined (nobody recorded, nobody counted)."""

    if reference is None or not params.day_effect:
        return 1.0
    end = t - params.guard_days
    start = end - params.baseline_days
    base_counted = sum(reference.counted[start:end])
    base_recorded = sum(reference.recorded[start:end])
    if start < 0 or not base_counted or not base_recorded or not reference.recorded[t]:
        return 1.0
    return (reference.counted[t] / reference.recorded[t]) / (base_counted / base_recorded)


def test_day(
    counts: Sequence[int], days: Sequence[date], t: int, params: Parameters, reference: Reference | None = None
) -> Exceedance | None:
    """Day ``t`` with its baseline, day factor and limit, or ``None`` when it has no baseline."""

    found = baseline(counts, t, params)
    if found is None:
        return None
    mean, sd = found
    factor = day_factor(reference, t, params)
    expected = max(mean * factor, params.min_mean)
    limit = max(poisson_limit(expected, params.alpha), params.min_count)
    return Exceedance(days[t], counts[t], mean, sd, limit, factor, expected)


def cluster_window(days: Sequence[date], day: date, params: Parameters) -> tuple[date, ...] | None:
    """The school days the cluster test reads for an alert on ``day``: the unit's last ``cluster_days``
    school days up to it (``days`` ascending); ``None`` when the unit has fewer."""

    t = days.index(day)
    if t + 1 < params.cluster_days:
        return None
    return tuple(days[t + 1 - params.cluster_days : t + 1])


def clustered(days_counted: Mapping[str, int], window: Sequence[date]) -> int:
    """Pupils counted on every day of ``window``, from each pupil's number of counted days in it."""

    return sum(1 for n in days_counted.values() if n >= len(window))


def detect(
    counts: Sequence[int],
    days: Sequence[date],
    params: Parameters,
    *,
    since: date | None = None,
    reference: Reference | None = None,
) -> list[Exceedance]:
    """The alert days of one unit: ``counts[i]`` pupils on school day ``days[i]`` (ascending).

    ``reference`` gives the day factor (``None``: 1.0 every day). Only days on or after ``since``
    are reported; earlier days serve as baseline and for the persistence rule.
    """

    if len(counts) != len(days):
        raise ValueError("counts and days must be of the same length")
    if reference is not None and not len(reference.counted) == len(reference.recorded) == len(days):
        raise ValueError("the reference must have one count per day")
    alerts: list[Exceedance] = []
    run = 0
    for t in range(len(counts)):
        tested = test_day(counts, days, t, params, reference)
        if tested is None or tested.count < tested.threshold:
            run = 0
            continue
        run += 1
        if run >= params.persistence and (since is None or tested.day >= since):
            alerts.append(tested)
    return alerts
