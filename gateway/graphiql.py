"""GraphiQL 3 served offline: vendored assets under ``/graphiql``, a page per browser ``GET /graphql``.

Subscriptions run in the page over graphql-transport-ws with the vendored ``graphql-ws``
client (its npm UMD build, ``make graphiql-ws``), the tab's headers as ``connection_init`` payload.

Nothing loads from a CDN, and no credential is ever in the page: an example's ``X-API-Key`` or
``Authorization`` header is shown as a placeholder (``<your API key>``) whatever the config
says, since the page is served to whoever asks for it. The page gets a Content-Security-Policy that allows only this
origin (plus ``data:`` fonts and images, which GraphiQL's stylesheet embeds) and a fresh
nonce for its one inline script. Licences of the vendored files: ``static/graphiql/LICENSES.txt``.
"""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

ASSETS_DIR = Path(__file__).resolve().parent / "static" / "graphiql"
#: Serves the vendored GraphiQL, React and ReactDOM files; add it to the app's routes.
#: Compressed on the fly: graphiql.min.js is 3.5 MB as shipped, about 0.9 MB gzipped.
ASSETS_MOUNT = Mount(
    "/graphiql", app=GZipMiddleware(StaticFiles(directory=ASSETS_DIR), minimum_size=1024), name="graphiql-assets"
)
#: Put in every example tab's headers editor, so responses carry ``extensions.sources``.
DEFAULT_HEADERS = json.dumps({"X-Satudata-Trace": "sources"}, indent=2)
_JSON_TYPES = ("application/graphql-response+json", "application/json")
#: What an example's credential headers show instead of a credential.
CREDENTIAL_PLACEHOLDERS = {"x-api-key": "<your API key>", "authorization": "Bearer <your token>"}

_PAGE = """<!doctype html>
<html lang="id">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · GraphiQL</title>
<link rel="icon" type="image/svg+xml" href="{assets}/favicon.svg">
<link rel="stylesheet" href="{assets}/graphiql.min.css">
<style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
<div id="graphiql">Memuat GraphiQL…</div>
<script src="{assets}/react.production.min.js"></script>
<script src="{assets}/react-dom.production.min.js"></script>
<script src="{assets}/graphiql.min.js"></script>
<script src="{assets}/graphql-ws.min.js"></script>
<script nonce="{nonce}">
(function () {{
  "use strict";
  var config = {config};
  // Keep history, theme and pane sizes in localStorage, but never restore saved tabs:
  // every visit starts from the configured examples, each with the trace header.
  var saved = GraphiQL.createLocalStorage({{ namespace: "satudata" }});
  var tabsKey = "graphiql:tabState";
  var storage = {{
    getItem: function (key) {{ return key === tabsKey ? null : saved.getItem(key); }},
    setItem: function (key, value) {{ if (key !== tabsKey) saved.setItem(key, value); }},
    removeItem: function (key) {{ saved.removeItem(key); }},
    clear: function () {{ saved.clear(); }},
    get length() {{ return saved.length; }}
  }};
  // A placeholder is not a credential: until a real one is pasted over it, the header and the
  // purpose that goes with it are left out, so the schema loads (as the public role) instead of
  // failing with 401 on every visit.
  function withoutPlaceholders(fetch) {{
    return function (params, options) {{
      var given = (options && options.headers) || {{}};
      var names = Object.keys(given);
      var placeholder = names.some(function (name) {{ return config.placeholders.indexOf(given[name]) >= 0; }});
      var headers = {{}};
      names.forEach(function (name) {{
        var credentialOnly = config.placeholders.indexOf(given[name]) >= 0 || name.toLowerCase() === "x-satudata-purpose";
        if (!(placeholder && credentialOnly)) headers[name] = given[name];
      }});
      return fetch(params, Object.assign({{}}, options, {{ headers: headers }}));
    }};
  }}
  // Subscriptions go over graphql-transport-ws (the vendored graphql-ws client), one socket per
  // operation, whose connection_init carries the tab's headers: the credential and the purpose.
  var socketUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + config.endpoint;
  function isSubscription(params, options) {{
    var document = options && options.documentAST;
    if (!document) return /^\\s*subscription\\b/m.test((params.query || "").replace(/#[^\\n]*/g, ""));
    return document.definitions.some(function (d) {{
      return d.kind === "OperationDefinition" && d.operation === "subscription" &&
        (!params.operationName || (d.name && d.name.value === params.operationName));
    }});
  }}
  function withSubscriptions(fetch) {{
    return function (params, options) {{
      if (!isSubscription(params, options)) return fetch(params, options);
      return {{
        subscribe: function (observer) {{
          var client = graphqlWs.createClient({{
            url: socketUrl, connectionParams: (options && options.headers) || {{}}, retryAttempts: 0, lazy: true
          }});
          var stop = client.subscribe(
            {{ query: params.query, variables: params.variables, operationName: params.operationName }},
            {{
              next: function (value) {{ observer.next(value); }},
              error: function (error) {{
                // A closed socket (an expired token, 4403) is shown as an error result, not thrown away.
                observer.next({{ errors: [{{ message: error && error.reason ? error.code + ": " + error.reason : String(error && error.message || error) }}] }});
                observer.complete();
                client.dispose();
              }},
              complete: function () {{ observer.complete(); client.dispose(); }}
            }}
          );
          return {{ unsubscribe: function () {{ stop(); client.dispose(); }} }};
        }}
      }};
    }};
  }}
  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, {{
    fetcher: withoutPlaceholders(withSubscriptions(GraphiQL.createFetcher({{ url: config.endpoint }}))),
    defaultTabs: config.tabs,
    // GraphiQL 3 fills the first tab's variables editor from this prop, not from defaultTabs.
    variables: config.tabs.length ? config.tabs[0].variables || undefined : undefined,
    // ... and its headers editor from this one (an example's credential and purpose).
    headers: config.tabs.length ? config.tabs[0].headers || undefined : undefined,
    defaultHeaders: config.defaultHeaders,
    defaultEditorToolsVisibility: "headers",
    storage: storage
  }}));
}})();
</script>
</body>
</html>
"""


@dataclass(frozen=True)
class ExampleQuery:
    """A query preloaded as a GraphiQL tab; ``variables`` and ``headers`` are JSON text.

    The title becomes the query's first line (``# title``): GraphiQL names tabs after the
    operation, so the comment is where a reader sees what the example is for. Without
    ``headers`` the tab gets :data:`DEFAULT_HEADERS`; credential headers get a placeholder.
    """

    title: str
    query: str
    variables: str | None = None
    headers: str | None = None

    def tab(self) -> dict[str, str | None]:
        """The example as one entry of GraphiQL's ``defaultTabs``."""

        query = self.query if self.query.lstrip().startswith("#") else f"# {' '.join(self.title.split())}\n{self.query}"
        headers = without_credentials(self.headers) if self.headers else DEFAULT_HEADERS
        return {"query": query, "variables": self.variables, "headers": headers}


def without_credentials(headers: str) -> str:
    """An example's headers (JSON text) with every credential replaced by its placeholder."""

    try:
        parsed = json.loads(headers)
    except ValueError:
        return DEFAULT_HEADERS  # not JSON: nothing in it can be shown safely
    if not isinstance(parsed, dict):
        return DEFAULT_HEADERS
    cleaned = {
        name: CREDENTIAL_PLACEHOLDERS.get(str(name).lower(), value) for name, value in parsed.items()
    }
    return json.dumps(cleaned, indent=2)


def graphiql_page(
    *, endpoint: str, examples: Sequence[ExampleQuery], title: str = "Satu Data Trenggalek", assets: str | None = None
) -> HTMLResponse:
    """The GraphiQL page for ``endpoint`` (a path such as ``request.url_for("graphql").path``).

    Assets load from ``assets``, by default the ``graphiql`` folder next to the endpoint, so
    an app under a ``root_path`` (``/satudata/graphql``) links ``/satudata/graphiql/...``.
    The first example is the active tab.
    """

    assets = assets if assets is not None else endpoint.rsplit("/", 1)[0] + "/graphiql"
    nonce = secrets.token_urlsafe(18)
    config = {
        "endpoint": endpoint,
        "tabs": [e.tab() for e in examples] or None,
        "defaultHeaders": DEFAULT_HEADERS,
        "placeholders": sorted(CREDENTIAL_PLACEHOLDERS.values()),
    }
    page = _PAGE.format(
        title=html.escape(title),
        assets=html.escape(assets.rstrip("/"), quote=True),
        nonce=nonce,
        config=json.dumps(config).replace("<", "\\u003c"),
    )
    return HTMLResponse(page, headers={
        "Content-Security-Policy": content_security_policy(nonce),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    })


def content_security_policy(nonce: str) -> str:
    """Same origin only; GraphiQL needs inline styles and embeds its fonts and icons as ``data:``."""

    return "; ".join((
        "default-src 'none'", f"script-src 'self' 'nonce-{nonce}'", "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:", "img-src 'self' data:", "connect-src 'self'", "base-uri 'none'",
        "form-action 'none'", "frame-ancestors 'none'",
    ))


def wants_graphiql(request: Request) -> bool:
    """A browser asking for the page: ``GET`` without ``query``, ``Accept`` preferring ``text/html``.

    ``text/html`` must carry a higher quality than the GraphQL JSON types, or the same
    quality and come first; ``*/*`` counts for neither, since browsers send it too.
    """

    if request.method != "GET" or "query" in request.query_params:
        return False
    best: dict[str, tuple[float, int]] = {}
    for position, part in enumerate(request.headers.get("accept", "").split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media in best:
            continue
        best[media] = (quality, -position)
    html_rank = best.get("text/html", (0.0, 0))
    json_rank = max((best.get(t, (0.0, -10**6)) for t in _JSON_TYPES), default=(0.0, 0))
    return html_rank[0] > 0 and html_rank > json_rank
