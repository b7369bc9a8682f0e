# The README's two commands: `make run` and `make test`. Both install what they need.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8080
# Node.js from PyPI, where scripts/ensure-node.sh had to install it there (no new enough one
# from apt): first on PATH for every recipe (npm, npx, node, the tests and benches that run
# them). Added even before it exists, so the recipes after ensure-node.sh's first run find it.
export PATH := $(CURDIR)/.tools/node/bin:$(PATH)

.PHONY: run test lint unit bench soak postgres docker clean canvas canvas-test canvas-api chromium

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

postgres:
	@bash scripts/ensure-postgres.sh

# The Docker backend's tests start their own dockerd (tests/docker/engine.py).
docker:
	@bash scripts/ensure-docker.sh

# The canvas (canvas/, docs in canvas/README.md): built into canvas/dist/ when its sources
# changed; Node.js comes through apt when missing or too old, else from PyPI into .tools/node
# (scripts/ensure-node.sh).
CANVAS_SRC := $(shell find canvas/src canvas/index.html canvas/vite.config.ts canvas/tsconfig.json -type f 2>/dev/null)

canvas/node_modules/.installed: canvas/package.json canvas/package-lock.json
	@bash scripts/ensure-node.sh
	cd canvas && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	touch $@

canvas/dist/index.html: canvas/node_modules/.installed $(CANVAS_SRC)
	cd canvas && npm run build --silent

canvas: canvas/dist/index.html

# Regenerate the canvas's API types from the platform's routes (tests/canvas/test_api_schema.py).
canvas-api: $(STAMP) canvas/node_modules/.installed
	cd canvas && PYTHON=$(CURDIR)/$(PY) npm run gen:api --silent

chromium:
	@bash scripts/ensure-chromium.sh

# Type checks, vitest, then Playwright in Debian's Chromium against a real `molecule serve`.
canvas-test: $(STAMP) postgres chromium canvas
	cd canvas && npm run typecheck --silent && npx vitest run && npx playwright test

run: $(STAMP) postgres canvas
	$(VENV)/bin/molecule serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(VENV)/bin/ruff check molecule tests $(wildcard bench)
	$(VENV)/bin/ruff format --check molecule tests $(wildcard bench)
	$(VENV)/bin/mypy

# Most tests wait (on agents, clocks, the database), so workers overlap; the Docker tests share
# one worker (xdist_group "docker"): one engine, its images built once.
PYTEST_WORKERS ?= 3

unit: $(STAMP) postgres docker
	$(PY) -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadgroup

test: lint unit canvas-test

bench: $(STAMP) postgres docker
	$(PY) bench/heartbeats.py
	$(PY) bench/scale.py
	$(PY) bench/a2a_proxy.py
	$(PY) bench/provision.py
	$(PY) bench/docker_provision.py
	$(PY) bench/fanout.py
	$(PY) bench/floor.py
	$(MAKE) canvas && $(PY) bench/canvas_load.py

# Not part of `bench`: it runs 10 minutes (bench/README.md). SOAK_ARGS="--workspaces 10 --minutes 1"
soak: $(STAMP) postgres
	$(PY) bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache canvas/node_modules canvas/dist .tools
