# The README's two commands: `make run` and `make test`. Both install what they need.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: run test lint unit bench soak postgres docker clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

postgres:
	@bash scripts/ensure-postgres.sh

# The Docker backend's tests start their own dockerd (tests/docker/engine.py).
docker:
	@bash scripts/ensure-docker.sh

run: $(STAMP) postgres
	$(VENV)/bin/molecule serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(VENV)/bin/ruff check molecule tests $(wildcard bench)
	$(VENV)/bin/ruff format --check molecule tests $(wildcard bench)
	$(VENV)/bin/mypy

unit: $(STAMP) postgres docker
	$(PY) -m pytest -q -p no:cacheprovider

test: lint unit

bench: $(STAMP) postgres docker
	$(PY) bench/heartbeats.py
	$(PY) bench/scale.py
	$(PY) bench/a2a_proxy.py
	$(PY) bench/provision.py
	$(PY) bench/docker_provision.py
	$(PY) bench/fanout.py
	$(PY) bench/floor.py

# Not part of `bench`: it runs 10 minutes (bench/README.md). SOAK_ARGS="--workspaces 10 --minutes 1"
soak: $(STAMP) postgres
	$(PY) bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
