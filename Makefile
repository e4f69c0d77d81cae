# Hulin's two commands: `make up` (the whole system, in the background) and `make test`.
# Everything they need is fetched or built here; caches live outside git (~/.cache/hulin).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_FLAGS ?=
export HULIN_STATE_DIR ?= $(HOME)/.local/state/hulin
# The services default to prod; this machine's stack, tests and benches ask for development mode
# (the public JWT secret, the console's demo tokens), served on loopback only.
export HULIN_ENV ?= dev

.PHONY: help venv lock infra up down status test test-unit test-integration lint typecheck \
        bench bench-patrol bench-incidents bench-e2e bench-history abuse demo chaos chaos-cluster \
        clean-state

help:
	@echo "make up      start Kafka, FerretDB, the three services and the demo district"
	@echo "make down    stop all of it (data is kept)"
	@echo "make test    run every test, starting what it needs"

venv: $(VENV)/.installed

# Every dependency from the lock file, pinned and hashed; then our own code, editable, alone.
$(VENV)/.installed: pyproject.toml requirements-dev.lock
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --require-hashes -r requirements-dev.lock
	@$(PY) -m pip install -q --no-deps -e .
	@touch $@

# Re-pin after changing pyproject.toml's dependencies: pip-tools in a venv of its own; the versions
# in use stay unless a range moved (the constraint file is what this venv has now).
LOCK_VENV ?= $(HOME)/.cache/hulin/lock-venv
lock:
	@test -x $(LOCK_VENV)/bin/pip-compile || { python3 -m venv $(LOCK_VENV) && \
	  $(LOCK_VENV)/bin/pip install -q pip-tools; }
	@$(PY) -m pip freeze --exclude-editable > $(LOCK_VENV)/in-use.txt 2>/dev/null || : > $(LOCK_VENV)/in-use.txt
	@$(LOCK_VENV)/bin/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-header \
	  --no-emit-find-links -c $(LOCK_VENV)/in-use.txt -o requirements.lock pyproject.toml
	@$(LOCK_VENV)/bin/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-header \
	  --no-emit-find-links --extra dev -c $(LOCK_VENV)/in-use.txt -o requirements-dev.lock pyproject.toml

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

test: infra browser
	@$(PY) -m pytest $(PYTEST_FLAGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran"; exit 1; fi; exit $$rc

test-unit: venv
	@$(PY) -m pytest tests/unit -q

lint: venv
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy shared services/*/domain

clean-state: down
	rm -rf "$(HULIN_STATE_DIR)"

# --- proof under load and faults (sim/, bench/, scripts/chaos.py) ---------------------------------
DEMO_FLAGS ?= --rangers 36 --duration 4h --speedup 30

demo: up
	@echo "watch the console fill: http://127.0.0.1:$${HULIN_NOTIFY_PORT:-8003}/console"
	@$(PY) -m sim $(DEMO_FLAGS) \
	  --patrol-url http://127.0.0.1:$${HULIN_PATROL_PORT:-8001} \
	  --incidents-url http://127.0.0.1:$${HULIN_INCIDENTS_PORT:-8002} \
	  --notify-url http://127.0.0.1:$${HULIN_NOTIFY_PORT:-8003}

bench-e2e: infra
	@$(PY) -m bench.e2e_bench $(BENCH_E2E_FLAGS)

bench: infra
	@$(PY) -m bench.run_all $(BENCH_FLAGS)

chaos: venv
	@$(PY) scripts/chaos.py $(CHAOS_FLAGS)

# Three brokers (replication 3, min ISR 2), reports at 50/s, one broker killed with -9 and back.
chaos-cluster: venv
	@$(PY) scripts/chaos.py --cluster --short $(CHAOS_FLAGS)

bench-patrol: infra
	@$(PY) bench/patrol_bench.py

# Reads and periodic loops on an almost empty store and after a district-year, same run (issue 15;
# writes bench/results/history.{json,txt}). For a quick look: BENCH_HISTORY_FLAGS="--incidents 2000
# --notifications 20000 --alerts 10000 --patrols 3000 --deliveries 1000".
bench-history: infra
	@$(PY) -m bench.history_bench $(BENCH_HISTORY_FLAGS)

# Issue 16: the other users' alert p99, errors and lost reports beside the simulator's day, without
# and then with abuse (1 GiB bodies, 10,000 reports/min from one public token, 500 streams from one
# person); writes bench/results/abuse.{txt,json}. ABUSE_FLAGS="--window 20" for a quick look.
abuse: infra
	@$(PY) -m bench.abuse_bench $(ABUSE_FLAGS)

# The console's browser test drives Debian's chromium (never a downloaded browser build); CJK
# fonts so the page and its screenshot show Chinese. Runs as root on CI's fresh machine.
.PHONY: browser
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	@fc-list :lang=zh 2>/dev/null | grep -q . || apt-get install -y fonts-wqy-microhei \
		|| (apt-get update && apt-get install -y fonts-wqy-microhei) || true

# Incidents: HTTP intake, reports → stored incidents per second, escalation lag at 10,000 open
# incidents (prints a Markdown table, writes bench/results/incidents.json).
bench-incidents: infra
	@$(PY) -m bench.incidents_bench $(BENCH_INCIDENTS_FLAGS)
