# One command each: `make run` (the embedded standalone mode), `make test` (the whole suite, PostgreSQL then SQLite) and `make bench` (issue 13's benchmarks, docs/benchmarks.md).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

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

test: $(STAMP) services browser
	MITO_TEST_DB=postgresql $(PY) -m pytest $(PYTEST_ARGS)
	MITO_TEST_DB=sqlite $(PY) -m pytest $(PYTEST_ARGS)

test-postgres: $(STAMP) services browser
	MITO_TEST_DB=postgresql $(PY) -m pytest $(PYTEST_ARGS)

test-sqlite: $(STAMP)
	MITO_TEST_DB=sqlite $(PY) -m pytest $(PYTEST_ARGS)

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
