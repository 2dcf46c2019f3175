"""Browser fixtures: a gateway on a real socket and a headless Chromium page.

``gateway_url`` is the real gateway, started by ``satudata demo`` (see ``demo_server`` in
tests/conftest.py); the tests rely on it only through ``gateway_url`` and ``example_expectation``.

Chromium is Debian's (``/usr/bin/chromium``); Playwright never downloads a browser here.
Without it the browser tests skip on a laptop and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..support.sqlite import sqlite_file

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def gateway_url(demo_server: Any) -> str:
    """Base URL of the real gateway, started as a user would: ``satudata demo`` on a real socket."""

    return str(demo_server.url)


@pytest.fixture(scope="session")
def example_expectation(demo_server: Any) -> tuple[str, str]:
    """(title of a preloaded example, text its result pane shows after running it).

    The first example looks up a pupil's registry record; its result shows the person's name,
    read here directly from the demo's SQLite registry.
    """

    import json
    import sqlite3
    import tomllib

    config = tomllib.loads((demo_server.data_dir / "gateway.toml").read_text(encoding="utf-8"))
    first = config["graphiql"]["examples"][0]
    nik = json.loads(first["variables"])["nik"]
    with sqlite_file(demo_server.data_dir / "dispendukcapil.sqlite") as conn:
        (name,) = conn.execute("SELECT nama_lengkap FROM penduduk WHERE nik = ?", (nik,)).fetchone()
    return first["title"], name


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A fresh page in headless Debian Chromium (Playwright's sync API).

    HOME and TMPDIR point at a short-lived folder directly under /tmp: Chromium puts a Unix
    socket there, and pytest's tmp_path is too deep for the 107-byte socket path limit.
    """

    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = f"{CHROMIUM} is not installed (apt-get install chromium); the GraphiQL browser tests need it"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run them", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="chromium-", dir="/tmp", ignore_cleanup_errors=True) as home,
        sync_playwright() as playwright,
    ):
        env = {**os.environ, "HOME": home, "TMPDIR": home}
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, env=env)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="id-ID")
            page = context.new_page()
            page.set_default_timeout(20_000)
            yield page
            context.close()
        finally:
            browser.close()
