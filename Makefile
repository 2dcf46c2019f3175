# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
SCALE  ?= 0.1

.PHONY: demo test bench schema clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

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

## Run the whole test suite (PostgreSQL and MariaDB tests skip without servers, fail under CI=true).
test: $(VENV)/.installed-test $(NODE_PEERS)/node_modules/.package-lock.json $(NODE_APQ)/node_modules/.package-lock.json
	$(BIN)/python -m pytest

## Benchmarks; see bench/README.md.
bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

## Re-export schema.graphql after changing the vocabulary.
schema: $(VENV)/.installed
	$(BIN)/satudata export-schema --output schema.graphql

clean:
	rm -rf $(VENV) .data
