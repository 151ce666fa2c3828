# One-command setup: `make test` needs only Python 3.11, Node and npm on the machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP_PY   := $(VENV)/.stamp-requirements
STAMP_NODE := node_modules/.stamp-package-lock
INFRA_PY    := .venv-infra/bin/python
STAMP_INFRA := .venv-infra/.stamp-requirements

.PHONY: all setup test lint typecheck unit bench demo clean azurite infra-check fuzz

all: test

$(STAMP_PY): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMP_PY) $(STAMP_NODE)

# The Bicep scanner (checkov) and parser live in their own venv: checkov pins many packages.
$(STAMP_INFRA): requirements-infra.txt
	@test -x $(INFRA_PY) || $(PYTHON) -m venv .venv-infra
	$(INFRA_PY) -m pip install --quiet --disable-pip-version-check -r requirements-infra.txt
	@touch $@

# infra/: every Bicep file parses (tree-sitter-bicep and checkov's own parser), then checkov passes.
infra-check: $(STAMP_INFRA)
	$(INFRA_PY) -m tests.support.bicep infra

lint: $(STAMP_PY)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP_PY)
	$(PY) -m mypy

test: setup lint typecheck infra-check
	$(PY) -m pytest

# The fuzz tests of `make test` (1,000 examples each) at 34,000 examples each: 102,000 in all.
fuzz: $(STAMP_PY)
	FUZZ_EXAMPLES=34000 $(PY) -m pytest tests/unit/test_fuzz_ingest.py -q -p no:cacheprovider --hypothesis-show-statistics

unit: $(STAMP_PY)
	$(PY) -m pytest tests/unit

bench: setup
	$(PY) bench/cold_start.py
	$(PY) bench/event_throughput.py
	$(PY) bench/fanout.py

# Replays samples/events (a month of events) into Azurite, shows what was recorded and writes out/report-2026-10.html.
demo: setup
	$(PY) -m shared.cli demo

clean:
	rm -rf $(VENV) .venv-infra node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis
