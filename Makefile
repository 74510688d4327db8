# sansio-rooms: every target installs what it needs from the pinned files, from scratch.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_BENCH := benchmarks/node/node_modules/.package-lock.json

.PHONY: test lint typecheck docs pytest demo cluster-demo serve bench fuzz clean

$(STAMP): requirements-dev.txt pyproject.toml bindings/asyncio/pyproject.toml bindings/trio/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e . -e bindings/asyncio -e bindings/trio
	touch $@

## test: lint, type-check, build the docs site, then the whole test suite with branch coverage
## and doc examples
test: lint typecheck docs pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict sansio_rooms bindings/asyncio/sansio_rooms_asyncio \
		bindings/trio/sansio_rooms_trio

## docs: the documentation site (Sphinx, furo, MyST; the API reference from the docstrings, the
## pictures drawn from the code) in docs/_build/html, from scratch, warnings as errors
docs: $(STAMP)
	$(BIN)/sphinx-build -E -q -W --keep-going -b html docs docs/_build/html

INTEROP_CLIENT := tests/interop/node/node_modules/.package-lock.json
$(INTEROP_CLIENT): tests/interop/node/package.json tests/interop/node/package-lock.json
	cd tests/interop/node && npm ci --no-audit --no-fund --silent

CLUSTER_NODE := tests/cluster/node/node_modules/.package-lock.json
$(CLUSTER_NODE): tests/cluster/node/package.json tests/cluster/node/package-lock.json
	cd tests/cluster/node && npm ci --no-audit --no-fund --silent

WEB_CLIENT := examples/web/node_modules/.package-lock.json
$(WEB_CLIENT): examples/web/package.json examples/web/package-lock.json
	cd examples/web && npm ci --no-audit --no-fund --silent

ADMIN_NODE := tests/admin/node/node_modules/.package-lock.json
$(ADMIN_NODE): tests/admin/node/package.json tests/admin/node/package-lock.json
	cd tests/admin/node && npm ci --no-audit --no-fund --silent

# Two workers (pytest-xdist), tests handed out as they finish; a line per test file when done.
pytest: $(STAMP) $(INTEROP_CLIENT) $(CLUSTER_NODE) $(ADMIN_NODE) $(WEB_CLIENT) $(NODE_BENCH)
	$(BIN)/pytest -p no:cacheprovider -n 2 --dist worksteal --progress-by-file \
		--cov=sansio_rooms --cov-branch \
		--cov-report=term-missing:skip-covered --cov-fail-under=98 \
		tests docs README.md

## demo: the main job, on the embedded in-memory engine: the chat driven through the bare
## engine, then the same chat served over Socket.IO and driven by real clients
## (asyncio binding on uvicorn; `make demo TRIO=1`: trio binding on hypercorn)
demo: $(STAMP)
	$(BIN)/python examples/chat.py
	$(BIN)/python examples/chat_demo.py $(if $(TRIO),--trio)

## cluster-demo: two chat servers (asyncio on uvicorn, trio on hypercorn) sharing rooms through
## a Redis (REDIS=redis://host:port/0, default the local one), a client on each, and an
## emitter script announcing into a room; prints who received what
REDIS ?= redis://127.0.0.1:6379/0
cluster-demo: $(STAMP)
	cd examples && ../$(BIN)/python cluster_demo.py --redis $(REDIS)

## serve: the chat server for a person to try, at http://127.0.0.1:8000/ (Ctrl-C stops it);
## `make serve PORT=8050` for another port, `TRIO=1` on hypercorn's trio worker
PORT ?= 8000
serve: $(STAMP) $(WEB_CLIENT)
ifdef TRIO
	cd examples && SANSIO_ROOMS_BINDING=trio ../$(BIN)/hypercorn -k trio --bind 127.0.0.1:$(PORT) chat_server:app
else
	cd examples && ../$(BIN)/uvicorn chat_server:app --host 127.0.0.1 --port $(PORT)
endif

$(NODE_BENCH): benchmarks/node/package.json benchmarks/node/package-lock.json
	cd benchmarks/node && npm ci --no-audit --no-fund --silent

## bench: benchmarks against the peers, in the same run (prints figures, never fails on speed)
bench: $(STAMP) $(NODE_BENCH)
	$(BIN)/python benchmarks/core.py
	$(BIN)/python benchmarks/protocol.py
	$(BIN)/python benchmarks/fanout.py --rounds 3
	$(BIN)/python benchmarks/cluster.py --rounds 3
	$(BIN)/python benchmarks/recovery.py

## fuzz: a million generated inputs at each binding over real sockets (minutes; not part of
## `make test`); prints inputs, crashes, leaked sockets and sessions, RSS (fuzz/README.md)
fuzz: $(STAMP)
	$(BIN)/python fuzz/run.py

clean:
	rm -rf $(VENV) benchmarks/node/node_modules examples/web/node_modules \
		tests/interop/node/node_modules tests/cluster/node/node_modules \
		tests/admin/node/node_modules docs/_build .coverage .hypothesis .mypy_cache .ruff_cache
