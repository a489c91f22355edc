# One command each: `make run` (the embedded standalone mode), `make test` (the whole suite on PostgreSQL and on
# SQLite, the two passes at once, each on pytest-xdist workers) and `make bench` (issue 13's benchmarks, docs/benchmarks.md).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Each pass's pytest-xdist workers; whole files per worker, so a module-scoped coordinator starts once.
# `PYTEST_ARGS="-n 0"` runs a pass serially.
XDIST ?= -n 2 --dist loadfile

.PHONY: install run test test-postgres test-sqlite lint fmt migrate services browser bench

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/mito standalone

services:
	bash scripts/ensure-services.sh

browser:
	bash scripts/ensure-chromium.sh

# The two passes run at once; --output-sync prints each pass whole when it ends, and either failing fails make.
test: $(STAMP) services browser
	$(MAKE) --no-print-directory -j2 --output-sync=target test-postgres test-sqlite

test-postgres: $(STAMP) services browser
	MITO_TEST_DB=postgresql $(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

test-sqlite: $(STAMP)
	MITO_TEST_DB=sqlite $(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check app worker_agent client mito tests bench
	$(VENV)/bin/ruff format --check app worker_agent client mito tests bench
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff format app worker_agent client mito tests bench
	$(VENV)/bin/ruff check --fix app worker_agent client mito tests bench

migrate: $(STAMP)
	$(VENV)/bin/mito db upgrade

bench: $(STAMP) services
	$(PY) -m bench all
