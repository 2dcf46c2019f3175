# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
SCALE  ?= 0.1
# Every runtime and test dependency (the test and otel extras too), pinned with hashes, one file for
# Python 3.11, 3.12 and 3.13; `make lock` writes it from pyproject.toml.
LOCK   := requirements.lock
# The other supported Pythons: `make test-compat` runs each in a venv of its own (.venv-3.12 ...).
COMPAT_PYTHONS := 3.12 3.13
PYENV_ROOT ?= $(HOME)/.pyenv
UV_VERSION := 0.13.8

.PHONY: demo test test-compat lock bench schema clean graphiql-ws

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Exactly the lock, then the project itself without dependencies (the lock has them all);
# again whenever the lock or pyproject.toml changes.
$(VENV)/.installed: $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# Python X.Y for a compat venv: pyenv's build when there is one, else pythonX.Y on the PATH.
python_for = $(or $(lastword $(wildcard $(PYENV_ROOT)/versions/$(1).*/bin/python$(1))),$(shell command -v python$(1)))

.venv-%/bin/python:
	@test -n "$(call python_for,$*)" || { echo "Python $* not found: install it (pyenv install $*)"; exit 1; }
	$(call python_for,$*) -m venv .venv-$*
	$@ -m pip install --quiet --upgrade pip

.venv-%/.installed: $(LOCK) pyproject.toml | .venv-%/bin/python
	.venv-$*/bin/python -m pip install --quiet --require-hashes -r $(LOCK)
	.venv-$*/bin/python -m pip install --quiet --no-deps -e .
	touch $@

# Made by pattern rules only, so make would take them for intermediate files and delete them.
.PRECIOUS: .venv-%/bin/python .venv-%/.installed

## Rewrite requirements.lock from pyproject.toml after changing a dependency (uv in a throwaway venv).
## Versions already locked stay where pyproject.toml allows them; LOCK_FLAGS=--upgrade takes the newest.
lock:
	@tools=$$(mktemp -d) && trap 'rm -rf "$$tools"' EXIT && \
	$(PYTHON) -m venv "$$tools" && "$$tools/bin/python" -m pip install --quiet uv==$(UV_VERSION) && \
	"$$tools/bin/uv" pip compile pyproject.toml --extra test --universal --python-version 3.11 \
		--generate-hashes --custom-compile-command "make lock" --output-file $(LOCK) $(LOCK_FLAGS)

## Generate the demo OPD databases (first run only) and serve the gateway on them.
demo: $(VENV)/.installed
	$(BIN)/satudata demo --port $(PORT) --scale $(SCALE)

# The federation peers from npm (@apollo/subgraph, composition, gateway) for tests/federation.
NODE_PEERS := tests/federation/node
$(NODE_PEERS)/node_modules/.package-lock.json: $(NODE_PEERS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix $(NODE_PEERS) --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the federation peer tests will skip (and fail under CI=true)"; fi

# The real Apollo Client (persisted queries link) and Apollo's manifest generator, for tests/gateway.
NODE_APQ := tests/gateway/node_apq
$(NODE_APQ)/node_modules/.package-lock.json: $(NODE_APQ)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix $(NODE_APQ) --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the Apollo Client persisted query tests will skip (and fail under CI=true)"; fi

# The real graphql-ws and graphql-sse clients for tests/gateway/test_subscriptions_npm_clients.py (graphql-ws's
# browser build is also GraphiQL's: make graphiql-ws).
NODE_SUBS := tests/gateway/node_subscriptions
$(NODE_SUBS)/node_modules/.package-lock.json: $(NODE_SUBS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix $(NODE_SUBS) --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the subscription client tests will skip (and fail under CI=true)"; fi

## Vendor GraphiQL's graphql-ws client (dev time; committed): the browser (UMD) build from the pinned npm package.
graphiql-ws: $(NODE_SUBS)/node_modules/.package-lock.json
	cp $(NODE_SUBS)/node_modules/graphql-ws/umd/graphql-ws.min.js gateway/static/graphiql/graphql-ws.min.js

## Run the whole test suite (PostgreSQL and MariaDB tests skip without servers, fail under CI=true).
test: $(VENV)/.installed $(NODE_PEERS)/node_modules/.package-lock.json $(NODE_APQ)/node_modules/.package-lock.json $(NODE_SUBS)/node_modules/.package-lock.json
	$(BIN)/python -m pytest

## The compat tier on Python 3.12 and 3.13, each in its own venv from the same lock (`.ci/run` runs it
## after `make test`, which runs the whole suite on 3.11).
# Not the whole suite a second and third time (8 minutes each on CI's 2 cores): the files where a new
# Python changes what we depend on, in this order below:
#   every module of every package imports (syntax, removed APIs, deprecations: warnings are errors);
#   asyncio: streams, gather and cancellation (3.12 changed gather), cancellation reaching aiosqlite and
#     asyncpg statements, queues waking readers, timeouts and breakers on the loop;
#   the drivers: sqlite3 through aiosqlite (3.12 deprecates its date adapter, 3.13 warns on unclosed
#     connections), asyncpg pools, every answer against direct SQL on sqlite3, asyncpg and aiomysql,
#     asyncpg LISTEN/NOTIFY;
#   the servers: uvicorn with our httptools protocol over raw sockets (deadlines, limits), WebSocket
#     on uvicorn (websockets sans-I/O, graphql-transport-ws), worker processes and gc.get_stats (3.13
#     collects differently), strawberry on starlette, OpenTelemetry context across tasks (contextvars);
#   typing and dataclass introspection: the config tree, the reference generated from it, the schema
#     strawberry builds from annotations, the resolvers' own tests;
#   the compiled execution path against graphql-core (one role that sees personal data);
#   the audit log: group commit, hash chain and locks on SQLite and PostgreSQL.
COMPAT_TESTS := \
	tests/test_imports.py \
	tests/test_faultproxy.py \
	tests/connectors/test_sql_cancellation.py \
	tests/connectors/test_change_feed.py \
	tests/connectors/test_resilience.py \
	tests/connectors/test_sql_connector.py \
	tests/connectors/test_sql_pool.py \
	tests/test_answers_equal_sources.py \
	tests/connectors/test_change_capture_sql.py \
	tests/gateway/test_door_server.py \
	tests/gateway/test_subscriptions_protocol.py \
	tests/gateway/test_metrics_process.py \
	tests/gateway/test_http.py \
	tests/gateway/test_telemetry.py \
	tests/gateway/test_config_tree.py \
	tests/gateway/test_config_docs.py \
	tests/test_schema_file.py \
	tests/resolvers \
	tests/gateway/test_compiled_differential.py::test_the_corpus_is_the_suite_and_mostly_compiles \
	'tests/gateway/test_compiled_differential.py::test_compiled_answers_equal_graphql_core[registry_officer]' \
	tests/gateway/access/test_audit.py
# Left out: the two of test_audit.py that start Python processes per case (the CLI, appends from separate
# processes; 20-30 s each on a busy machine); the tier imports the CLI and runs the same appends in-process.
COMPAT_DESELECT := \
	tests/gateway/access/test_audit.py::test_cli_verify_and_person \
	tests/gateway/access/test_audit.py::test_appends_from_separate_os_processes_keep_one_chain
# --tb=short: with pytest's long tracebacks the 3.13.0 interpreter crashed (a segmentation fault while
# formatting a failure's arguments, a uvicorn thread running).
COMPAT_PYTEST ?= -q --tb=short
test-compat: $(COMPAT_PYTHONS:%=.venv-%/.installed)
	@for version in $(COMPAT_PYTHONS); do \
		echo "== Python $$version: the compat tier"; \
		.venv-$$version/bin/python -m pytest $(COMPAT_PYTEST) $(COMPAT_DESELECT:%=--deselect %) $(COMPAT_TESTS) || exit 1; \
	done

## Benchmarks; see bench/README.md.
bench: $(VENV)/.installed
	$(BIN)/python -m bench

## Re-export schema.graphql after changing the vocabulary.
schema: $(VENV)/.installed
	$(BIN)/satudata export-schema --output schema.graphql

clean:
	rm -rf $(VENV) $(COMPAT_PYTHONS:%=.venv-%) .data
