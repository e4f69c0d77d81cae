# Hulin's two commands: `make up` (the whole system, in the background) and `make test`.
# Everything they need is fetched or built here; caches live outside git (~/.cache/hulin).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_FLAGS ?=
export HULIN_STATE_DIR ?= $(HOME)/.local/state/hulin

.PHONY: help venv infra up down status test test-unit test-integration lint typecheck \
        bench bench-patrol bench-incidents bench-e2e demo chaos clean-state

help:
	@echo "make up      start Kafka, FerretDB, the three services and the demo district"
	@echo "make down    stop all of it (data is kept)"
	@echo "make test    run every test, starting what it needs"

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@

infra: venv
	@scripts/infra.sh up
	@$(PY) -m shared.cli topics create

up: infra
	@scripts/services.sh up
	@$(PY) -m shared.cli up-summary

down:
	@scripts/services.sh down
	@scripts/infra.sh down

status:
	@scripts/infra.sh status
	@scripts/services.sh status

test: infra
	@$(PY) -m pytest $(PYTEST_FLAGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran"; exit 1; fi; exit $$rc

test-unit: venv
	@$(PY) -m pytest tests/unit -q

lint: venv
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy shared services/*/domain

clean-state: down
	rm -rf "$(HULIN_STATE_DIR)"
