"""The absence-alert method on known series, and properties it must keep on any series."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resolvers.signals.alerts import epi_week
from resolvers.signals.detection import Parameters, detect, poisson_limit

DAYS = [date(2026, 8, 3) + timedelta(days=i) for i in range(60)]
SMALL = Parameters(baseline_days=5, guard_days=1, alpha=1e-3, min_mean=0.75, min_count=4, persistence=2)


def _tail(k: int, mean: float) -> float:
    return 1 - sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(k))


@pytest.mark.parametrize("mean", [0.01, 0.5, 0.75, 1.0, 2.5, 7.0, 30.0])
@pytest.mark.parametrize("alpha", [1e-2, 1e-3, 1e-4])
def test_the_limit_is_the_smallest_count_whose_tail_is_below_alpha(mean: float, alpha: float) -> None:
    k = poisson_limit(mean, alpha)
    assert _tail(k, mean) <= alpha
    assert k == 0 or _tail(k - 1, mean) > alpha


def test_a_cluster_held_two_days_alerts_from_its_second_day() -> None:
    counts = [1, 0, 1, 0, 1, 1, 0, 7, 8, 6, 1, 0]
    alerts = detect(counts, DAYS[: len(counts)], SMALL)
    # Day 7 exceeds (limit 4 on a 0.6 mean raised to 0.75), day 8 is the second in a row: an alert. Day 9's
    # baseline (days 3-7, the guard band is one day) already holds day 7's 7 pupils: mean 1.8, limit 8 > 6.
    assert [a.day for a in alerts] == [DAYS[8]]
    first = alerts[0]
    assert first.count == 8
    assert first.threshold == max(poisson_limit(0.75, 1e-3), 4)
    # Day 8's baseline is days 2-6 (guard band: day 7).
    assert first.mean == pytest.approx((1 + 0 + 1 + 1 + 0) / 5)


def test_one_bad_day_raises_nothing() -> None:
    counts = [1, 0, 1, 0, 1, 1, 0, 9, 0, 1, 0, 9, 1]
    assert detect(counts, DAYS[: len(counts)], SMALL) == []


def test_without_enough_history_there_is_no_baseline() -> None:
    counts = [9, 9, 9, 9, 9, 9]  # the first 6 days: baseline 5 + guard 1 leaves none to test but the last
    assert detect(counts, DAYS[: len(counts)], SMALL) == []


def test_since_reports_only_later_days_but_reads_earlier_ones() -> None:
    counts = [1, 0, 1, 0, 1, 1, 0, 7, 8, 6, 1, 0]
    # Day 8 is an alert because day 7, before `since`, exceeded too; nothing before `since` is reported.
    assert [a.day for a in detect(counts, DAYS[: len(counts)], SMALL, since=DAYS[8])] == [DAYS[8]]
    assert detect(counts, DAYS[: len(counts)], SMALL, since=DAYS[9]) == []


def test_epidemiological_weeks_run_sunday_to_saturday() -> None:
    assert epi_week(date(2026, 1, 4)) == (2026, 1)
    assert epi_week(date(2026, 1, 3)) == (2025, 53)
    assert epi_week(date(2026, 11, 1)) == epi_week(date(2026, 11, 7)) != epi_week(date(2026, 11, 8))


series = st.lists(st.integers(min_value=0, max_value=12), min_size=8, max_size=40)


@settings(max_examples=200, deadline=None)
@given(series, st.integers(min_value=0, max_value=39), st.integers(min_value=1, max_value=10))
def test_more_pupils_off_on_a_day_never_removes_an_alert_up_to_that_day(counts: list[int], day: int, more: int) -> None:
    day %= len(counts)
    days = DAYS[: len(counts)]
    before = {a.day for a in detect(counts, days, SMALL) if a.day <= days[day]}
    raised = list(counts)
    raised[day] += more
    after = {a.day for a in detect(raised, days, SMALL) if a.day <= days[day]}
    assert before <= after


@settings(max_examples=200, deadline=None)
@given(series, st.sampled_from([1e-2, 1e-3, 1e-4]), st.sampled_from([1e-3, 1e-4, 1e-5]))
def test_a_stricter_alpha_never_adds_an_alert(counts: list[int], loose: float, strict: float) -> None:
    if strict > loose:
        loose, strict = strict, loose
    days = DAYS[: len(counts)]
    wide = {a.day for a in detect(counts, days, Parameters(baseline_days=5, guard_days=1, alpha=loose))}
    narrow = {a.day for a in detect(counts, days, Parameters(baseline_days=5, guard_days=1, alpha=strict))}
    assert narrow <= wide


@settings(max_examples=200, deadline=None)
@given(series, st.integers(min_value=1, max_value=3))
def test_every_alert_is_at_or_above_its_threshold_and_follows_exceedances(counts: list[int], persistence: int) -> None:
    params = Parameters(baseline_days=5, guard_days=1, persistence=persistence)
    days = DAYS[: len(counts)]
    for alert in detect(counts, days, params):
        t = days.index(alert.day)
        assert alert.count == counts[t] >= alert.threshold >= params.min_count
        # the days before it, as many as persistence asks, exceeded their own limits too
        for back in range(1, persistence):
            earlier = detect(counts[: t - back + 1], days[: t - back + 1], Parameters(baseline_days=5, guard_days=1, persistence=1))
            assert earlier and earlier[-1].day == days[t - back]
