"""The Smart Center screen in headless Chromium: offline, the planted alert, a source going down.

The gateway runs over a whole term of demo data (scale 0.02): the education database on SQLite,
the civil registry on the machine's PostgreSQL behind a fault proxy, so the test can take the
registry away while the page is open. The screen reads as the Smart Center analyst ([status]),
with "today" fixed to the second day of the largest outbreak of ``ground-truth.json`` (the first
day the method can alert). The page may reach the gateway's own origin only: every other request is
aborted and fails the test.

Set ``SATUDATA_STATUS_SCREENSHOT=docs/status.png`` to keep the screenshot the README shows.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ..conftest import _create_pg, _drop_pg, service_missing
from ..gateway.test_status_stream import STATUS, Term, largest_outbreak, serve_gateway, status_config
from ..gateway.test_status_stream import term as term  # noqa: F401  (the module-scoped fixture, shared)
from ..support.faultproxy import ThreadedFaultProxy

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


@pytest.fixture(scope="module")
def registry_on_postgresql(term: Term, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: F811
    """The term's civil registry in a PostgreSQL database of this module's own (dropped after)."""

    from demo import load_dataset

    name = f"satudata_test_status_siak_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_create_pg(name))
    except (OSError, ConnectionError) as exc:
        service_missing("PostgreSQL", exc)
    try:
        # load_dataset loads both databases; the education one goes to a scratch file (the term's own is used).
        scratch = tmp_path_factory.mktemp("scratch") / "dinas-pendidikan.sqlite"
        scratch_url = f"sqlite+aiosqlite:///{scratch}"
        asyncio.run(load_dataset(term.dataset, registry_url=PG.format(name=name), education_url=scratch_url))
        yield PG.format(name=name)
    finally:
        asyncio.run(_drop_pg(name))


def test_the_screen_shows_the_planted_alert_offline_and_a_source_going_down(
    browser_page: Any, term: Term, registry_on_postgresql: str, tmp_path: Path  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    outbreak = largest_outbreak(term.truth)
    day = outbreak["dates"][2]  # its third day: the first it alerts (tests/gateway/test_status_stream.py)
    kecamatan = ".".join(outbreak["kode_wilayah"].split(".")[:3])
    status = STATUS + f'today = "{day}"\n'
    with ThreadedFaultProxy("127.0.0.1", 5432) as proxy:
        config = status_config(term, status, registry_url=proxy.url_for(registry_on_postgresql))
        with serve_gateway(config, tmp_path) as url:
            local = urlsplit(url).netloc
            requests: list[str] = []
            problems: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
            # The intranet has no internet: anything leaving the gateway's origin is aborted.
            page.route(
                re.compile(r"^https?://"),
                lambda route: route.continue_() if urlsplit(route.request.url).netloc == local else route.abort(),
            )
            page.goto(f"{url}/status", wait_until="load")

            # The planted alert: its school and class in the list, its kecamatan marked on the map.
            alert = page.locator(f'#alerts li[data-npsn="{outbreak["npsn"]}"]')
            expect(alert).to_contain_text(outbreak["school"], timeout=30_000)
            expect(alert).to_contain_text(f'kelas {outbreak["rombel"]}')
            tile = page.locator(f'.tile[data-code="{kecamatan}"]')
            expect(tile).to_have_class(re.compile(r"\balert\b"))
            expect(tile).to_have_attribute("aria-label", re.compile(r": \d+ peringatan$"))
            expect(page.locator(".tile")).to_have_count(14)
            expect(page.locator("#day")).to_contain_text("(tanggal yang ditetapkan)")
            expect(page.locator("#selisih-ringkas")).to_contain_text("selisih", timeout=30_000)
            expect(page.locator('#sources li[data-source="siak"]')).to_contain_text("Aktif")
            expect(page.locator("#overall")).to_have_text("Semua sumber aktif")

            # Keyboard: Tab reaches the map's tiles; Enter on the alerting one selects its alerts.
            for _ in range(40):
                page.keyboard.press("Tab")
                if page.locator(":focus").get_attribute("data-code") == kecamatan:
                    break
            else:
                pytest.fail("Tab never reached the alerting kecamatan's tile")
            page.keyboard.press("Enter")
            expect(alert).to_have_class(re.compile(r"\bselected\b"))
            expect(page.locator("#announce")).to_contain_text("peringatan")
            page.keyboard.press("Enter")  # unselect: the screenshot shows the wall as it stands

            shot = os.environ.get("SATUDATA_STATUS_SCREENSHOT")
            page.screenshot(path=shot or str(tmp_path / "status.png"))

            # The registry goes down: the screen's next read finds it so, and the page shows it live.
            proxy.set_mode("refuse")
            proxy.drop_connections()
            try:
                siak = page.locator('#sources li[data-source="siak"]')
                expect(siak).not_to_have_class(re.compile(r"\bstate-up\b"), timeout=20_000)
                expect(siak).not_to_contain_text("Aktif")
                expect(page.locator("#overall")).to_have_text("Sebagian sumber terganggu")
                # The last good reading stays, marked as no longer fresh.
                expect(alert).to_be_visible()
                expect(page.locator("#peringatan-ringkas")).to_contain_text("pembacaan baru gagal")
            finally:
                proxy.set_mode("pass")
                page.goto("about:blank")  # close the page's stream before the gateway stops

    assert problems == []
    assert requests and all(urlsplit(u).netloc == local for u in requests if u.startswith("http")), requests
    assert any(u.endswith("/status/events") for u in requests)
