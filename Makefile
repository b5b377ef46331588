# Two commands for a fresh machine with python3 (>= 3.11) and GNU make:
#   make run    start the app (embedded database, web server, worker)
#   make test   run the test suite
# The virtualenv is (re)installed only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
PYTEST_ARGS ?=
# three worker processes, balanced test by test (a module's shared fixtures stay together):
# on 2 cores a third keeps them busy while the others wait on browsers and subprocesses;
# PYTEST_WORKERS=0 runs everything in one process
PYTEST_WORKERS ?= 3

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt bench docs browser-deps audio-deps clean

help:
	@echo "make run           start the app; Ctrl-C stops everything"
	@echo "make test          run the tests (extra pytest flags: PYTEST_ARGS='-k config'; PYTEST_WORKERS=0: one process)"
	@echo "make lint          ruff check + ruff format --check"
	@echo "make fmt           format and auto-fix with ruff"
	@echo "make bench         run the benchmarks (bench/engine.py, bench/calls.py; BENCH_ARGS=--quick)"
	@echo "make docs          regenerate docs/syncs.md and webapp/phone-formats.js"
	@echo "make browser-deps  install Debian chromium for browser tests (if missing)"
	@echo "make audio-deps    install espeak-ng: mock call recordings spoken, not tones (if missing)"
	@echo "make clean         remove the virtualenv and caches (keeps ./data)"

$(BIN)/python:
	@if ! command -v $(PYTHON) >/dev/null 2>&1; then \
	  echo "error: '$(PYTHON)' not found; install Python >= 3.11 or run make PYTHON=/path/to/python3" >&2; \
	  exit 1; \
	elif ! $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
	  echo "error: Python >= 3.11 is required, but '$(PYTHON)' is: $$($(PYTHON) --version 2>&1 | head -n 1)" >&2; \
	  echo "       install a newer one or run make PYTHON=python3.12" >&2; \
	  exit 1; \
	fi
	@$(PYTHON) -m venv $(VENV) || { \
	  echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2; \
	  rm -rf $(VENV); exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

# `make run` is development: the app with its tooling (the devtools extra: simulator, stand-ins).
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[devtools]'
	@touch $@

# Example plugins are installed too: the conceptkit tests find them by their entry points.
EXAMPLES := $(patsubst %/pyproject.toml,%,$(wildcard examples/*/pyproject.toml))

$(DEV_STAMP): pyproject.toml $(EXAMPLES:%=%/pyproject.toml) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(addprefix -e ,$(EXAMPLES))
	@touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/python -m services.devtools.devrun

test: $(DEV_STAMP)
	@if [ -d tests/browser ]; then $(MAKE) --no-print-directory browser-deps audio-deps; fi
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(RUN_STAMP)
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/calls.py $(BENCH_ARGS)

# docs/syncs.md is generated from the registered syncs (tests/test_docs.py checks it), the
# web app's phone formats from phonenumbers (tests/app/test_phone_formats.py checks them).
docs: $(RUN_STAMP)
	{ cat docs/_syncs_header.md; $(BIN)/conceptkit syncs --markdown --block notes; } > docs/syncs.md
	$(BIN)/python -m services.app.phone_formats

# Browser tests drive Debian's chromium; installs it only when it is missing.
browser-deps:
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	echo "Installing chromium with apt-get (needed by tests/browser)"; \
	$$SUDO apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium

# The phone simulator speaks each call's recording with espeak-ng (a generated WAV without
# it); the browser tests play one. Installs it only when it is missing.
audio-deps:
	@if command -v espeak-ng >/dev/null 2>&1; then exit 0; fi; \
	SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	echo "Installing espeak-ng with apt-get (mock call recordings)"; \
	$$SUDO apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq espeak-ng || \
	echo "warning: espeak-ng not installed; mock recordings will be generated tones" >&2

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis test-output
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
