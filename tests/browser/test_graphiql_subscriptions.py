"""GraphiQL runs a subscription offline: the vendored graphql-ws client, the tab's headers as the
connection's credential, and a change published into the feed shown live in the result pane."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..gateway.test_subscriptions_npm_clients import (  # noqa: F401 (the module's gateway fixture)
    CLIENTS,
    WATULIMO,
    World,
    change,
    world,
)
from .test_graphiql import EDITOR_VALUE, HEADERS_EDITOR, QUERY_EDITOR, QUERY_PARSED, RESPONSE_EDITOR

NODE_MODULES = Path(__file__).parents[1] / "gateway" / "node_subscriptions" / "node_modules"
VENDORED = Path(__file__).parents[2] / "gateway" / "static" / "graphiql" / "graphql-ws.min.js"


def test_graphiql_shows_a_live_resident_change_over_its_vendored_graphql_ws(browser_page: Any, world: World) -> None:
    page = browser_page
    local = urlsplit(world.url).netloc
    problems: list[str] = []
    sockets: list[str] = []
    page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.route(
        re.compile(r"^https?://"),
        lambda route: route.continue_() if urlsplit(route.request.url).netloc == local else route.abort(),
    )
    page.goto(world.url, wait_until="load")
    page.wait_for_selector(f"{QUERY_EDITOR} .CodeMirror-code")
    officer = CLIENTS["registry_officer"]
    query = "subscription Births {\n  residentChanges(region: \"%s\", kinds: [BORN]) { kind person { nik name } }\n}\n" % WATULIMO
    headers = '{"X-API-Key": "%s", "X-Satudata-Purpose": "%s"}' % (officer.key, officer.purpose)
    page.evaluate("([selector, text]) => document.querySelector(selector).CodeMirror.setValue(text)", [QUERY_EDITOR, query])
    page.evaluate("([selector, text]) => document.querySelector(selector).CodeMirror.setValue(text)", [HEADERS_EDITOR, headers])
    page.wait_for_function(QUERY_PARSED, arg=QUERY_EDITOR)
    page.click(".graphiql-execute-button")

    world.feed.wait_for_subscribers(1)
    nik, desa = "3503089901250099", world.resident_in(WATULIMO)[1]
    world.born(nik, "Bayi Di GraphiQL", desa)
    world.feed.publish_now(change(nik, "BORN", desa))
    page.wait_for_function(
        "([selector, text]) => (document.querySelector(selector)?.CodeMirror?.getValue() ?? '').includes(text)",
        arg=[RESPONSE_EDITOR, "Bayi Di GraphiQL"],
    )
    result = page.evaluate(EDITOR_VALUE, RESPONSE_EDITOR)
    assert '"BORN"' in result and nik in result
    assert sockets and all(urlsplit(url).netloc == local and url.startswith("ws://") for url in sockets)
    assert problems == []


def test_the_vendored_graphql_ws_is_the_pinned_npm_build() -> None:
    built = NODE_MODULES / "graphql-ws" / "umd" / "graphql-ws.min.js"
    if not built.is_file():  # without the npm harness installed there is nothing to compare with
        import os

        import pytest

        reason = "tests/gateway/node_subscriptions/node_modules is not installed (npm ci)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    assert VENDORED.read_bytes() == built.read_bytes(), "run `make graphiql-ws` after changing graphql-ws's version"
