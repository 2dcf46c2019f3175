"""GraphiQL works offline: it renders from same-origin assets only, runs an example, obeys its CSP."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from starlette.datastructures import Headers
from starlette.requests import Request

from demo.access_config import API_KEY_PLACEHOLDER, EXAMPLE_ROLES, demo_clients
from gateway.graphiql import wants_graphiql

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
EDITOR_VALUE = "(selector) => document.querySelector(selector)?.CodeMirror?.getValue() ?? null"
QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
RESPONSE_EDITOR = ".graphiql-response .CodeMirror"
QUERY_PARSED = """(selector) => {
  const editor = document.querySelector(selector)?.CodeMirror;
  const names = (editor?.operations ?? []).map((o) => o.name?.value ?? null);
  return !!editor && editor.documentAST?.loc?.source?.body === editor.getValue()
    && (editor.operationName == null ? names.length === 1 : names.includes(editor.operationName));
}"""
HEADERS_EDITOR = "section.graphiql-editor-tool[aria-label=Headers] .graphiql-editor:not(.hidden) .CodeMirror"


def test_graphiql_runs_an_example_offline(
    browser_page: Any, gateway_url: str, example_expectation: tuple[str, str], tmp_path: Path
) -> None:
    page = browser_page
    title, expected = example_expectation
    (key,) = {c.key for c in demo_clients("-", None) if c.role == EXAMPLE_ROLES[title]}
    local = urlsplit(gateway_url).netloc
    requests: list[Any] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r))
    page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    # The intranet has no internet: anything leaving 127.0.0.1 is aborted (and then fails the test).
    page.route(
        re.compile(r"^https?://"),
        lambda route: route.continue_() if urlsplit(route.request.url).netloc == local else route.abort(),
    )

    page.goto(f"{gateway_url}/graphql", wait_until="load")
    page.wait_for_selector(f"{QUERY_EDITOR} .CodeMirror-code")
    page.wait_for_selector(".graphiql-execute-button")

    # The example is preloaded as a tab, its title on the query's first line.
    if title not in (page.evaluate(EDITOR_VALUE, QUERY_EDITOR) or ""):
        tabs = page.locator(".graphiql-tab .graphiql-tab-button")
        for index in range(tabs.count()):
            tabs.nth(index).click()
            if title in (page.evaluate(EDITOR_VALUE, QUERY_EDITOR) or ""):
                break
        else:
            pytest.fail(f"no GraphiQL tab holds the example {title!r}")
    headers = page.evaluate(EDITOR_VALUE, HEADERS_EDITOR) or ""
    assert "X-Satudata-Trace" in headers
    # The page carries no key: paste the example's demo key over the placeholder, as a user does.
    assert API_KEY_PLACEHOLDER in headers and key not in headers
    page.evaluate(
        "([selector, text]) => document.querySelector(selector).CodeMirror.setValue(text)",
        [HEADERS_EDITOR, headers.replace(API_KEY_PLACEHOLDER, key)],
    )
    # GraphiQL 3 re-parses the query 100 ms after a tab switch; running sooner would send the
    # previous tab's operationName. Wait until the parsed document is the one on screen.
    page.wait_for_function(QUERY_PARSED, arg=QUERY_EDITOR)

    page.click(".graphiql-execute-button")
    page.wait_for_function(
        "([selector, text]) => (document.querySelector(selector)?.CodeMirror?.getValue() ?? '').includes(text)",
        arg=[RESPONSE_EDITOR, expected],
    )
    result = page.evaluate(EDITOR_VALUE, RESPONSE_EDITOR)
    assert '"sources"' in result, f"the trace header did not reach the gateway: {result}"
    screenshot = tmp_path / "graphiql.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000

    foreign = [r.url for r in requests if urlsplit(r.url).scheme in ("http", "https", "ws", "wss")
               and urlsplit(r.url).netloc != local]
    assert foreign == [], f"GraphiQL reached beyond the gateway: {foreign}"
    assert problems == []
    posts = [r for r in requests if r.method == "POST"]
    assert posts and all(urlsplit(r.url).path.endswith("/graphql") for r in posts)
    # The placeholder never went out as a credential (the schema loaded without one).
    assert all(r.headers.get("x-api-key") != API_KEY_PLACEHOLDER for r in posts)
    assert posts[-1].headers.get("x-satudata-trace") == "sources"
    assert posts[-1].headers.get("x-api-key") == key


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[dict[str, str | None]] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.handlers += [f"<{tag} {name}>" for name, _ in attrs if name.startswith("on")]
        if tag in ("script", "link", "img") and (found.get("src") or found.get("href")):
            self.urls.append(found.get("src") or found.get("href") or "")
        elif tag == "script" and found.get("type") != "application/json":
            self.inline_scripts.append(found)


EXPECTED_TYPES = {".js": "javascript", ".css": "text/css", ".svg": "image/svg+xml", ".txt": "text/plain"}


def test_page_links_only_same_origin_assets_under_a_csp(gateway_url: str) -> None:
    response = httpx.get(f"{gateway_url}/graphql", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'none'"]
    nonce = next(s for s in directives["script-src"] if s.startswith("'nonce-"))[7:-1]
    assert [s for s in directives["script-src"] if not s.startswith("'nonce-")] == ["'self'"]
    for name in ("style-src", "font-src", "img-src", "connect-src"):
        assert "'self'" in directives[name]
        assert not any(re.match(r"^(https?:|wss?:|\*)", source) for source in directives[name]), (name, directives)
    assert "'unsafe-eval'" not in csp

    links = _Links()
    links.feed(response.text)
    assert links.handlers == []
    assert links.inline_scripts and all(s.get("nonce") == nonce for s in links.inline_scripts)
    assert len(links.urls) >= 5
    for url in links.urls:
        assert not urlsplit(url).scheme and not urlsplit(url).netloc, f"{url} is not a same-origin path"
        asset = httpx.get(urljoin(f"{gateway_url}/graphql", url))
        assert asset.status_code == 200, url
        suffix = Path(urlsplit(url).path).suffix
        assert EXPECTED_TYPES[suffix] in asset.headers["content-type"], (url, asset.headers["content-type"])
        if suffix in (".js", ".css"):
            assert "sourceMappingURL" not in asset.text[-300:], url
    licences = httpx.get(urljoin(f"{gateway_url}/graphql", links.urls[-1].rsplit("/", 1)[0] + "/LICENSES.txt"))
    assert licences.status_code == 200 and "graphiql 3.8.3" in licences.text and "MIT License" in licences.text

    again = httpx.get(f"{gateway_url}/graphql", headers={"Accept": BROWSER_ACCEPT})
    assert again.headers["content-security-policy"] != csp, "the script nonce must change per response"


def _request(method: str, accept: str | None, query: str = "") -> Request:
    headers = Headers({"accept": accept} if accept is not None else {})
    return Request({"type": "http", "method": method, "path": "/graphql", "query_string": query.encode(),
                    "headers": headers.raw})


@pytest.mark.parametrize(
    ("method", "accept", "query", "wanted"),
    [
        ("GET", BROWSER_ACCEPT, "", True),
        ("GET", "text/html", "", True),
        ("GET", "text/html, application/json", "", True),
        ("GET", "application/json, text/html", "", False),
        ("GET", "application/graphql-response+json;q=1, text/html;q=0.5", "", False),
        ("GET", "text/html;q=0", "", False),
        ("GET", "*/*", "", False),
        ("GET", None, "", False),
        ("GET", "application/graphql-response+json, application/json;q=0.9", "", False),
        ("GET", BROWSER_ACCEPT, "query=%7B__typename%7D", False),
        ("POST", BROWSER_ACCEPT, "", False),
    ],
)
def test_wants_graphiql(method: str, accept: str | None, query: str, wanted: bool) -> None:
    assert wants_graphiql(_request(method, accept, query)) is wanted
