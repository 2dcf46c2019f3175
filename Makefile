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

## The suite on Python 3.12 and 3.13, each in its own venv from the same lock, without the files
## marked slow (minutes-long end-to-end runs; `make test` runs everything on the default Python).
COMPAT_PYTEST ?= -m "not slow" -q
test-compat: $(COMPAT_PYTHONS:%=.venv-%/.installed) $(NODE_PEERS)/node_modules/.package-lock.json $(NODE_APQ)/node_modules/.package-lock.json $(NODE_SUBS)/node_modules/.package-lock.json
	@for version in $(COMPAT_PYTHONS); do \
		echo "== Python $$version: pytest $(COMPAT_PYTEST)"; \
		.venv-$$version/bin/python -m pytest $(COMPAT_PYTEST) || exit 1; \
	done

## Benchmarks; see bench/README.md.
bench: $(VENV)/.installed
	$(BIN)/python -m bench

## Re-export schema.graphql after changing the vocabulary.
schema: $(VENV)/.installed
	$(BIN)/satudata export-schema --output schema.graphql

clean:
	rm -rf $(VENV) $(COMPAT_PYTHONS:%=.venv-%) .data
