# Lead-nurture operations: the runbook as Airflow 3 DAGs.
#   make run    everything local: PostgreSQL (seeded), Slack sink, Airflow UI on 127.0.0.1:8080
#               (EXECUTOR=celery: CeleryExecutor with a Redis broker and two workers instead of LocalExecutor)
#   make test   what CI runs: lint (ruff, sqlfluff, import contracts) + pytest against a real PostgreSQL
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)

.PHONY: install lock db seed reseed run stop demo lint test bench clean test-celery bench-scheduler chromium
# `make run EXECUTOR=celery` (or EXECUTOR=celery in the environment): see dev/celery_stack.py.
EXECUTOR ?= local

install: $(STAMP)

# Pinned install: requirements.txt says what, constraints.txt pins every version.
$(STAMP): requirements.txt constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -c constraints.txt
	@# plugins/ on the venv's path, so .venv/bin/lint-imports, airflow and python find nurture_ops as Airflow does
	@echo "$(CURDIR)/plugins" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nurture_ops_plugins.pth"
	@touch $(STAMP)

# Re-resolve requirements.txt in a scratch venv and pin the result (needs PyPI).
lock:
	rm -rf .local/lock-venv && $(PYTHON) -m venv .local/lock-venv
	.local/lock-venv/bin/pip install -q -r requirements.txt
	{ echo "# Every package the project installs, pinned: the result of resolving requirements.txt on"; \
	  echo "# Python 3.11 (make lock). Used as a pip constraints file by make install."; \
	  .local/lock-venv/bin/pip freeze | grep -v '^-e'; } > constraints.txt

# PostgreSQL only (127.0.0.1:54329), with the seeded `nurture` database; `make stop` stops it.
db: install
	$(BIN)/python -m dev.stack start-db

seed: db

reseed: install
	$(BIN)/python -m dev.pg createdb nurture --drop
	$(BIN)/python -m dev.seed --dsn "$$($(BIN)/python -m dev.pg dsn nurture)"

# Foreground; Ctrl-C (or `make stop` from another shell) stops everything it started.
run: install
	NURTURE_EXECUTOR=$(EXECUTOR) $(BIN)/python -m dev.stack run

# Stops what `make run` / `make db` started, by PID (a PostgreSQL they did not start is left alone).
stop:
	@if test -x $(BIN)/python; then $(BIN)/python -m dev.stack stop; else echo "Nothing to stop."; fi

demo: install
	$(BIN)/python -m dev.demo

# Checks only, never fixes: style, formatting, SQL, and the package's import rules (pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint include/sql
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -m "not celery"

# The CeleryExecutor end to end (two workers, ~2 minutes); .ci/run runs it after `make test`.
test-celery: install
	$(BIN)/pytest -m celery tests/e2e

# SIZE=quick (7 days, then the scheduler bench); SIZE=year: 90 and 365 days and their growth
# (~20 minutes of generation for the year at capacity); SIZE=90 or SIZE=365: one of them.
# BENCH_ARGS passes more, e.g. BENCH_ARGS="--keep" or "--reuse --keep".
SIZE ?= quick
BENCH_ARGS ?=
bench: install
	$(BIN)/python -m dev.bench --size $(SIZE) $(BENCH_ARGS)
	@if [ "$(SIZE)" = quick ]; then $(BIN)/python -m dev.bench_scheduler; fi

# Only the scheduler part of `make bench`: DAG runs under the real scheduler, Local and Celery.
bench-scheduler: install
	$(BIN)/python -m dev.bench_scheduler

clean: stop
	@test -x $(BIN)/python && $(BIN)/python dev/pg.py stop || true
	rm -rf .local

# The Lead Nurture page's browser test drives Debian's chromium (tests/e2e/test_ops_page_browser.py):
# installed here when missing and running as root; otherwise that test skips and says why.
test: chromium
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing chromium for the browser test (apt-get install -y chromium)"; \
	    { apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; } \
	      || echo "chromium could not be installed: the browser test will skip"; \
	  else echo "chromium is not installed and this is not root: the browser test will skip"; fi; }
