"""Finding 17: a config file that holds secrets itself is readable by the gateway's user alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core import ConfigError
from demo.gateway_config import render_config
from gateway import GatewaySettings

from ..conftest import Backend


def _write(tmp_path: Path, backend: Backend, *, production: bool, mode: int) -> Path:
    text = render_config(registry_url=backend.registry_url, education_url=backend.education_url, access=True)
    if production:
        text = text.replace("[gateway]\n", "[gateway]\nproduction = true\n", 1)
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_finding_17_production_refuses_a_world_readable_config_holding_the_audit_key(sqlite_backend: Backend, tmp_path: Path) -> None:
    path = _write(tmp_path, sqlite_backend, production=True, mode=0o644)
    with pytest.raises(ConfigError, match="gateway.toml"):
        GatewaySettings.from_file(path)
    os.chmod(path, 0o600)
    assert GatewaySettings.from_file(path).production


def test_finding_17_development_warns_about_it_and_starts(sqlite_backend: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, sqlite_backend, production=False, mode=0o644)
    assert not GatewaySettings.from_file(path).production
    assert any("gateway.toml" in r.getMessage() for r in caplog.records)
