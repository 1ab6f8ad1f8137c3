# Hongqiao assistance suite. `make` lists the targets; `make run` starts everything,
# `make test` runs the tests. Needs GNU make and bash.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV = .venv
PY = $(VENV)/bin/python
# real: the system clock; controlled: the suite-wide clock file the gateway can set (demo mode)
HQ_CLOCK_MODE ?= real
# 1: the local trial, with the packaged demo accounts (password "demo") and token and request
# secrets generated into var/secrets.json; 0: a real run, which needs HQ_GATEWAY_SECRET,
# HQ_REQUEST_KEY and HQ_ACCOUNTS_FILE (docs/security.md)
HQ_DEMO ?= 1
# deploy second: its file checks are as quick as the unit tier, where they used to run;
# fault last: kill -9, a private broker restarted, every event twice (a few minutes)
TIERS = unit deploy service e2e fault
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: help venv broker postgres prometheus migrate seed run demo lint test bench clean distclean

help:
	@echo "make run        check the broker, build $(VENV), migrate, seed, start all services and the gateway"
	@echo "                with the demo accounts and generated secrets (HQ_DEMO=$(HQ_DEMO); HQ_DEMO=0: real"
	@echo "                accounts and secrets from HQ_ACCOUNTS_FILE, HQ_GATEWAY_SECRET, HQ_REQUEST_KEY)"
	@echo "make demo       the same with the controlled (demo) clock: HQ_CLOCK_MODE=controlled"
	@echo "make lint       static checks: ruff check, ruff format --check, mypy (see pyproject.toml)"
	@echo "make test       lint, then unit, deploy, service, end-to-end and fault tests (needs RabbitMQ and PostgreSQL)"
	@echo "make bench      the benchmark"
	@echo "make migrate    apply every service's database migrations"
	@echo "make seed       load the seed data (after migrating)"
	@echo "make venv       create $(VENV) and install the pinned requirements"
	@echo "make broker     check RabbitMQ, start or install it if needed"
	@echo "make postgres   check PostgreSQL, start or install it if needed"
	@echo "make prometheus check promtool and prometheus (monitoring tests), install them if needed"
	@echo "make clean      remove var/ and caches; make distclean also removes $(VENV)"

venv: $(VENV)/.installed

$(VENV)/.installed: $(wildcard requirements*.txt) pyproject.toml
	@py=$$(bash scripts/ensure-python.sh); \
	if ! $(PY) -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then \
	  echo "creating $(VENV) with $$py"; "$$py" -m venv --clear $(VENV); \
	fi
	$(PY) -m pip install -r requirements-dev.txt
	$(PY) -m pip install -e . --no-deps
	touch $@

broker:
	@bash scripts/ensure-broker.sh

postgres:
	@bash scripts/ensure-postgres.sh

prometheus:
	@bash scripts/ensure-prometheus.sh

migrate: venv
	$(PY) -m hqops.cli migrate all

seed: migrate
	$(PY) -m hqops.cli seed all

run: broker venv migrate seed
	HQ_CLOCK_MODE=$(HQ_CLOCK_MODE) HQ_DEMO=$(HQ_DEMO) exec $(PY) -m hqops.supervisor

demo:
	@$(MAKE) --no-print-directory run HQ_CLOCK_MODE=controlled

# Static checks, configured in pyproject.toml ([tool.ruff], [tool.mypy]); each runs even if an
# earlier one failed, and the target fails if any did.
lint: venv
	@code=0; \
	for check in "ruff check ." "ruff format --check ." "mypy"; do \
	  echo "== $$check"; $(PY) -m $$check || code=1; \
	done; \
	exit $$code

# One pytest process per tier, so the service tier's eventlet monkey-patching cannot leak into
# another tier. Stops at the first failing tier. A tier without test files is skipped (pytest's
# exit code 5, "no tests collected", fails the build only if the tier has test files).
# Tests get their own HQ_VAR_DIR, never the user's var/.
test: broker postgres prometheus venv lint
	@export HQ_VAR_DIR=$$(mktemp -d "$${TMPDIR:-/tmp}/hq-test.XXXXXX"); \
	trap 'rm -rf "$$HQ_VAR_DIR"' EXIT; \
	for tier in $(TIERS); do \
	  files=$$(find tests/$$tier \( -name 'test_*.py' -o -name '*_test.py' \) -print 2>/dev/null || true); \
	  if [ -z "$$files" ]; then echo "== tests/$$tier: no tests, skipped"; continue; fi; \
	  echo "== tests/$$tier"; \
	  code=0; $(PY) -m pytest tests/$$tier -q || code=$$?; \
	  if [ $$code -ne 0 ]; then echo "== tests/$$tier failed (pytest exit code $$code)"; exit $$code; fi; \
	done

bench: broker venv
	$(PY) -m bench

clean:
	rm -rf var .pytest_cache .ruff_cache .mypy_cache build dist *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
