"""The bench's discrepancy report measurement is wired: its dry run plans it, and its walk and its
scoring, run on the suite's data with every OPD's system, find every planted quirk and nothing else."""

from __future__ import annotations

import pytest

from bench.discrepancies import COUNTS, main, planted, score, walk

from .conftest import Gateway
from .test_discrepancies_agencies import every_opd, jkn_api  # noqa: F401 (fixtures)


def test_the_dry_run_plans_the_measurement_without_loading_anything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dry-run", "--scale", "1.0", "--walks", "2"]) == 0
    out = capsys.readouterr().out
    assert '"walks": 2' in out and '"apis": [' in out and "discrepancies(first: $first, after: $after)" in out


async def test_the_walk_and_its_score_on_the_suites_data(every_opd: Gateway, dataset) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    items, pages, errors = await walk(every_opd.client)
    truth = planted(dataset.ground_truth())
    result = score(items, truth)
    assert not errors and pages == -(-len(items) // 100)
    assert set(result) == {"DINDIKPORA", "DINKES", "JKN_JATIM", "DINSOS"}
    assert all(s["found"] == s["planted"] > 0 and s["missed"] == s["not_planted"] == s["twice"] == 0 for s in result.values())
    # One item dropped from the walk is one missed for its agency, and nothing else changes.
    (dropped, *rest) = items
    assert score(rest, truth)[dropped["values"][1]["agency"]["code"]]["missed"] == 1
    answer = await every_opd.query(COUNTS)
    assert "errors" not in answer and sum(c["count"] for c in answer["data"]["discrepancyCounts"]) == len(truth)
