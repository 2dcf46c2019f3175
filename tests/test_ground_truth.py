"""Every quirk the demo plants is visible through the graph, side by side, not silently resolved."""

from __future__ import annotations

from typing import Any

from .conftest import Gateway

SEX_FREE_FIELDS = "nisn nik name birthDate person { nik name birthDate status }"


#: Aliases per document: well inside the gateway's default token and alias limits.
BATCH = 20


async def students_by_nisn(gateway: Gateway, nisns: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for start in range(0, len(nisns), BATCH):
        batch = nisns[start : start + BATCH]
        aliases = "\n".join(f'  s{i}: student(nisn: "{nisn}") {{ {SEX_FREE_FIELDS} }}' for i, nisn in enumerate(batch))
        answer = await gateway.query(f"{{\n{aliases}\n}}", trace=True)
        assert "errors" not in answer, answer
        # All of them in one batch per source, however many were asked for.
        assert answer["extensions"]["sources"]["dapodik"]["calls"] == 1
        found.update({answer["data"][f"s{i}"]["nisn"]: answer["data"][f"s{i}"] for i in range(len(batch))})
    return found


async def test_planted_quirks_show_both_sources_values(sqlite_gateway: Gateway, dataset: Any) -> None:
    quirks = dataset.ground_truth()["quirks"]
    assert all(quirks[kind] for kind in ("name_mismatch", "birth_date_mismatch", "unknown_nik", "deceased_enrolled", "null_nik"))
    nisns = [q["nisn"] for kind in quirks.values() for q in kind]
    found = await students_by_nisn(sqlite_gateway, nisns)

    for q in quirks["name_mismatch"]:
        student = found[q["nisn"]]
        assert student["name"] == q["dapodik"] and student["person"]["name"] == q["registry"]
    for q in quirks["birth_date_mismatch"]:
        student = found[q["nisn"]]
        assert student["birthDate"] == q["dapodik"] and student["person"]["birthDate"] == q["registry"]
    for q in quirks["unknown_nik"]:
        student = found[q["nisn"]]
        assert student["nik"] == q["dapodik"] and student["person"] is None
    for q in quirks["deceased_enrolled"]:
        assert found[q["nisn"]]["person"]["status"] == "DECEASED"
    for q in quirks["null_nik"]:
        assert found[q["nisn"]]["nik"] is None and found[q["nisn"]]["person"] is None


async def test_planted_outbreak_shows_in_attendance(sqlite_gateway: Gateway, dataset: Any) -> None:
    outbreak = dataset.ground_truth()["outbreaks"][0]
    days = outbreak["dates"]
    answer = await sqlite_gateway.query(
        """query($npsn: NPSN!, $from: Date!, $to: Date!) {
             school(npsn: $npsn) { attendance(from: $from, to: $to) { date sick } } }""",
        {"npsn": outbreak["npsn"], "from": days[0], "to": days[-1]},
    )
    sick = {d["date"]: d["sick"] for d in answer["data"]["school"]["attendance"]}
    assert all(sick[day] >= len(outbreak["nisn"]) for day in days)
