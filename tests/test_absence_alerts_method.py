"""The absence-alert method on known series, and properties it must keep on any series."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resolvers.signals.alerts import epi_week
from resolvers.signals.detection import Parameters, Reference, cluster_window, clustered, day_factor, detect, poisson_limit

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


def _reference(rates: list[float], pupils: int = 1000) -> Reference:
    """The rest of the regency at these daily rates of pupils counted, ``pupils`` recorded every day."""

    return Reference(counted=[round(r * pupils) for r in rates], recorded=[pupils] * len(rates))


def test_the_day_factor_is_the_references_rate_that_day_over_its_rate_on_the_baseline_days() -> None:
    # Baseline days of day 8 (SMALL: 5 days, guard 1): days 2-6, at 2% and 3% (1,000 and 500 pupils recorded).
    reference = Reference(counted=[0, 0, 20, 20, 15, 20, 20, 99, 60], recorded=[1] * 2 + [1000, 1000, 500, 1000, 1000, 1, 1000])
    assert day_factor(reference, 8, SMALL) == pytest.approx(0.06 / (95 / 4500))
    assert day_factor(None, 8, SMALL) == 1.0
    assert day_factor(reference, 8, Parameters(baseline_days=5, guard_days=1, day_effect=False)) == 1.0
    # Nobody recorded that day elsewhere (a school's day recorded before the others'): no factor.
    assert day_factor(Reference(counted=[20] * 9, recorded=[1000] * 8 + [0]), 8, SMALL) == 1.0


def test_a_rise_every_school_shares_is_the_days_and_a_local_one_the_classs() -> None:
    counts = [1, 1, 1, 1, 1, 1, 1, 6, 6, 1, 1]
    days = DAYS[: len(counts)]
    # Without a reference, 6 twice over a mean of 1 is an alert (limit 6).
    assert [a.day for a in detect(counts, days, SMALL)] == [DAYS[8]]
    # The rest of the regency tripled that week (from 2% to 6%): the class's rise is the regency's.
    regency_wide = _reference([0.02] * 7 + [0.06, 0.06, 0.02, 0.02])
    assert detect(counts, days, SMALL, reference=regency_wide) == []
    # The rest of the regency as before: the rise is the class's own, the alert says the factor was 1.
    flat = detect(counts, days, SMALL, reference=_reference([0.02] * len(counts)))
    assert [(a.day, a.factor, a.expected, a.threshold) for a in flat] == [(DAYS[8], 1.0, 1.0, poisson_limit(1.0, 1e-3))]
    # With the day effect off, the reference is not read.
    off = Parameters(baseline_days=5, guard_days=1, day_effect=False)
    assert [a.day for a in detect(counts, days, off, reference=regency_wide)] == [DAYS[8]]


def test_the_expected_count_is_floored_after_the_day_factor() -> None:
    # A quiet day elsewhere (factor 0.5) does not take a class below min_mean: the limit stays the floor's.
    counts = [0, 1, 1, 0, 1, 1, 0, 5, 6, 0]
    quiet = detect(counts, DAYS[: len(counts)], SMALL, reference=_reference([0.02] * 7 + [0.01, 0.01, 0.02]))
    plain = detect(counts, DAYS[: len(counts)], SMALL)
    assert [(a.day, a.threshold) for a in quiet] == [(a.day, a.threshold) for a in plain]
    assert all(a.expected == SMALL.min_mean and a.factor == pytest.approx(0.5) for a in quiet)


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


@settings(max_examples=200, deadline=None)
@given(series, st.floats(min_value=0.005, max_value=0.2))
def test_a_reference_at_a_constant_rate_changes_nothing(counts: list[int], rate: float) -> None:
    days = DAYS[: len(counts)]
    assert detect(counts, days, SMALL, reference=_reference([rate] * len(counts), pupils=10_000)) == detect(counts, days, SMALL)


@settings(max_examples=200, deadline=None)
@given(series, st.lists(st.floats(min_value=0.0, max_value=0.2), min_size=40, max_size=40), st.integers(min_value=0, max_value=39))
def test_a_sicker_regency_on_a_day_never_adds_an_alert_up_to_that_day(counts: list[int], rates: list[float], day: int) -> None:
    day %= len(counts)
    days = DAYS[: len(counts)]
    rates = rates[: len(counts)]
    before = {a.day for a in detect(counts, days, SMALL, reference=_reference(rates, pupils=10_000)) if a.day <= days[day]}
    sicker = list(rates)
    sicker[day] += 0.05
    after = {a.day for a in detect(counts, days, SMALL, reference=_reference(sicker, pupils=10_000)) if a.day <= days[day]}
    assert after <= before


def test_the_cluster_window_is_the_units_last_school_days_up_to_the_alert() -> None:
    days = [date(2026, 11, d) for d in (2, 3, 4, 5, 6, 9)]
    params = Parameters()
    assert cluster_window(days, date(2026, 11, 9), params) == (date(2026, 11, 5), date(2026, 11, 6), date(2026, 11, 9))
    assert cluster_window(days, date(2026, 11, 3), params) is None  # fewer school days than the window
    assert cluster_window(days, date(2026, 11, 3), Parameters(cluster_days=2)) == (date(2026, 11, 2), date(2026, 11, 3))


def test_the_cluster_counts_the_pupils_off_on_every_day_of_the_window() -> None:
    window = (date(2026, 11, 5), date(2026, 11, 6), date(2026, 11, 9))
    # Five pupils off all three days, others one or two: five, however many days the others add up to.
    days_counted = {f"00{k}": 3 for k in range(5)} | {"0100": 2, "0101": 2, "0102": 1, "0103": 1}
    assert clustered(days_counted, window) == 5
    # The same daily counts (6, 6, 5) made of different pupils: no cluster.
    assert clustered({f"0{k}": 1 for k in range(17)}, window) == 0


@pytest.mark.parametrize("wrong", [{"cluster_days": 0}, {"cluster_min": -1}])
def test_the_cluster_parameters_are_checked(wrong: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=next(iter(wrong))):
        Parameters(**wrong)


def test_the_look_back_reads_the_cluster_window_too() -> None:
    assert Parameters(persistence=1, cluster_days=5).lookback == 15 + 2 + 4
    assert Parameters(persistence=2, cluster_days=1).lookback == 15 + 2 + 1
