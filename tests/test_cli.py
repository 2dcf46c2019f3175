"""The `satudata` command as a user meets it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import httpx
import pytest

from gateway.cli import main

from .conftest import DemoServer


def test_export_schema_prints_the_committed_schema(capsys: pytest.CaptureFixture[str], repo_root: Path) -> None:
    assert main(["export-schema"]) == 0
    assert capsys.readouterr().out == (repo_root / "schema.graphql").read_text(encoding="utf-8")


def test_serve_reports_a_config_error_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[sources.x]\nkind = "ftp"\nagency = "A"\n', encoding="utf-8")
    assert main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert 'sources.x.kind must be one of "sql", "rest", "graphql", not the string "ftp"' in err and "Traceback" not in err


def test_demo_writes_the_config_it_serves(demo_server: DemoServer) -> None:
    config = tomllib.loads((demo_server.data_dir / "gateway.toml").read_text(encoding="utf-8"))
    assert config["sources"]["siak"]["url"] == "sqlite+aiosqlite:///dispendukcapil.sqlite"
    assert (demo_server.data_dir / "ground-truth.json").exists()


def with_demo_key(title: str, headers: dict[str, str]) -> dict[str, str]:
    """An example's headers with the demo key of its role pasted over the placeholder, as a user does."""

    from demo.access_config import API_KEY_PLACEHOLDER, EXAMPLE_ROLES, demo_clients

    if headers.get("X-API-Key") != API_KEY_PLACEHOLDER:
        return headers
    (key,) = {c.key for c in demo_clients("-", None) if c.role == EXAMPLE_ROLES[title]}
    return {**headers, "X-API-Key": key}


def test_the_demo_starts_without_a_warning_in_a_folder_of_its_own(demo_server: DemoServer) -> None:
    """A fresh `satudata demo` warned at every start: its own data folder was open to others (it
    made it 0755, then complained of it), and each source's change capture but one failed once
    creating the positions table the others were creating too."""

    import stat

    assert stat.S_IMODE(demo_server.data_dir.stat().st_mode) == 0o700
    log = (demo_server.data_dir.parent / "server.log").read_text()
    warnings = [line for line in log.splitlines() if '"level":"WARNING"' in line or '"level":"ERROR"' in line]
    assert warnings == [], warnings


def test_every_preloaded_example_answers_with_data(demo_server: DemoServer) -> None:
    config = tomllib.loads((demo_server.data_dir / "gateway.toml").read_text(encoding="utf-8"))
    examples = config["graphiql"]["examples"]
    assert len(examples) >= 4
    for example in examples:
        variables = json.loads(example.get("variables") or "{}")
        # Each example carries the purpose of a role that may see it, and a placeholder for its key.
        headers = with_demo_key(example["title"], json.loads(example.get("headers") or "{}"))
        if example["query"].lstrip().startswith("subscription"):
            # A live example: the stream opens for its role (events come as the registry changes).
            with httpx.stream(
                "POST", f"{demo_server.url}/graphql", json={"query": example["query"], "variables": variables},
                headers={**headers, "Accept": "text/event-stream"}, timeout=httpx.Timeout(10, read=1.5),
            ) as stream:
                assert stream.status_code == 200, example["title"]
                assert stream.headers["content-type"].startswith("text/event-stream"), example["title"]
                # A refusal would come at once as an event with errors; a live stream stays quiet.
                with pytest.raises(httpx.ReadTimeout):
                    for line in stream.iter_lines():
                        assert "errors" not in line, (example["title"], line)
            continue
        response = httpx.post(
            f"{demo_server.url}/graphql", json={"query": example["query"], "variables": variables}, headers=headers
        )
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, (example["title"], body)
        assert all(value is not None for value in body["data"].values()), example["title"]


def test_finding_10_the_served_graphiql_page_carries_no_demo_key(demo_server: DemoServer) -> None:
    from demo.access_config import API_KEY_PLACEHOLDER, demo_clients

    page = httpx.get(f"{demo_server.url}/graphql", headers={"accept": "text/html"}).text
    assert "GraphiQL" in page and API_KEY_PLACEHOLDER.replace("<", "\\u003c") in page
    for client in demo_clients("-", None):
        assert client.key not in page, client.role


def test_keygen_secret_prints_a_key_the_gateway_accepts_for_cursors_and_audit_subjects(capsys: pytest.CaptureFixture[str]) -> None:
    from gateway import GatewaySettings
    from resolvers import CursorSeal

    assert main(["keygen-secret"]) == 0
    out = capsys.readouterr()
    (key,) = out.out.split()
    assert "cursor_key" in out.err
    assert CursorSeal.from_text(key).open(CursorSeal.from_text(key).seal("20512345", "School"), "School") == "20512345"
    raw = {"gateway": {"cursor_key": key}, "sources": {"x": {"kind": "sql", "agency": "A", "url": "sqlite+aiosqlite://"}}}
    assert GatewaySettings.from_dict(raw).cursor_key == key
    assert main(["keygen-secret"]) == 0 and capsys.readouterr().out.strip() != key
