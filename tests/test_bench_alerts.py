"""The bench's regency-wide alert scan is wired: its dry run plans it, and its query answers (suite data)."""

from __future__ import annotations

import pytest

from bench.alerts import ALERTS_TERM, alerts_variables, main

from .conftest import Gateway


def test_the_dry_run_plans_the_scan_without_loading_anything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dry-run", "--scale", "1.0", "--requests", "3"]) == 0
    out = capsys.readouterr().out
    assert '"query": "alerts_term"' in out and '"requests": 3' in out and "absenceAlerts(from: $from, to: $to)" in out


async def test_the_scan_in_its_smallest_form_answers_within_its_round_trips(sqlite_gateway: Gateway) -> None:
    answer = await sqlite_gateway.query(ALERTS_TERM.text, alerts_variables(1)[0], trace=True)
    assert "errors" not in answer, answer.get("errors")
    assert ALERTS_TERM.check(answer["data"]) is None
    calls = sum(s["calls"] for s in answer["extensions"]["sources"].values())
    low, high = ALERTS_TERM.expected_round_trips
    assert low <= calls <= high, answer["extensions"]["sources"]
