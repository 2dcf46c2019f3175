"""``satudata schema check``: breaking changes to the published schema need a changelog entry (issue 13).

The first test is the CI gate: every breaking change since the schema this changelog starts
from (``BASELINE``) is acknowledged in the repository's ``CHANGELOG.md``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from graphql import build_schema

from gateway.schema_check import acknowledged, compare, coordinate, run_check

#: The commit whose schema.graphql integrators had before CHANGELOG.md began.
BASELINE = "ea4b5f2"


def _has_baseline(repo_root: Path) -> bool:
    found = subprocess.run(["git", "cat-file", "-e", f"{BASELINE}:schema.graphql"], cwd=repo_root, capture_output=True, check=False)
    return found.returncode == 0


def test_every_breaking_change_since_the_baseline_is_in_the_changelog(repo_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not _has_baseline(repo_root):
        pytest.skip(f"git history without {BASELINE} (a shallow clone)")
    assert run_check(repo_root / "schema.graphql", repo_root / "CHANGELOG.md", BASELINE) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "breaking   Region.caseReports: " in out and "[acknowledged]" in out


def test_satudata_schema_check_passes_on_the_repository(repo_root: Path) -> None:
    """The command as CI runs it: a process, in the repository, exit status 0."""

    done = subprocess.run([sys.executable, "-m", "gateway.cli", "schema", "check"], cwd=repo_root, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 breaking" in done.stdout


def test_an_unacknowledged_breaking_change_fails(repo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not _has_baseline(repo_root):
        pytest.skip(f"git history without {BASELINE} (a shallow clone)")
    changelog = tmp_path / "CHANGELOG.md"
    kept = [line for line in (repo_root / "CHANGELOG.md").read_text().splitlines() if "`Region.caseReports`" not in line]
    changelog.write_text("\n".join(kept))
    assert run_check(repo_root / "schema.graphql", changelog, BASELINE) == 1
    out = capsys.readouterr().out
    assert "Region.caseReports: Field Region.caseReports changed type from [CaseReport!]! to [CaseReport!]. [NOT IN CHANGELOG]" in out


OLD = "type Query { a: Int! b(x: String): String c: String }"
NEW = "type Query { a: Int b(x: Int): String c: String d: Int }"


def test_compare_reports_breaking_changes_by_coordinate() -> None:
    result = compare(build_schema(OLD), build_schema(NEW), "")
    assert sorted(c.coordinate for c in result.breaking) == ["Query.a", "Query.b(x)"]
    assert not result.ok


def test_only_items_under_a_breaking_heading_acknowledge() -> None:
    changelog = "## 1.0\n### Added\n- `Query.a` is new\n### Breaking\n- `Query.b(x)`: an Int now\n"
    assert acknowledged(changelog) == {"Query.b(x)"}
    result = compare(build_schema(OLD), build_schema(NEW), changelog)
    assert [c.coordinate for c in result.unacknowledged] == ["Query.a"]
    result = compare(build_schema(OLD), build_schema(NEW), changelog + "- `Query.a`: nullable\n")
    assert result.ok


def test_coordinates_of_graphql_core_descriptions() -> None:
    assert coordinate("Field Region.caseReports changed type from [CaseReport!]! to [CaseReport!].") == "Region.caseReports"
    assert coordinate("Argument Region.caseReports(disease:) has changed type from String to DiseaseCode.") == "Region.caseReports(disease)"
    assert coordinate("Standard scalar Float was removed because it is not referenced anymore.") == "Float"
    assert coordinate("DISABLED was removed from enum type SourceState.") == "SourceState.DISABLED"
