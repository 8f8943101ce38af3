# skysift: `make demo` and `make test` set everything up on a clean machine (Python 3.11 + Java 17).
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= $(shell command -v python3.11 || command -v python3)
STAMP := $(VENV)/.installed

# Test files run on up to 4 processes (one per core, "auto"), a file's tests together so that its module
# fixtures are built once, in collection order (tests/conftest.py puts the slowest files first);
# PYTEST_WORKERS= runs them in one process.
PYTEST_WORKERS ?= --numprocesses=auto --maxprocesses=4 --dist=loadfile --no-loadscope-reorder

.PHONY: demo test test-fast install check-java check-stilts clean

check-java:
	@command -v java >/dev/null 2>&1 || [ -x "$$JAVA_HOME/bin/java" ] || { \
	  echo "error: Java not found. Spark needs Java 17: apt-get install openjdk-17-jre-headless (or set JAVA_HOME)." >&2; exit 1; }

# STILTS (TOPCAT's engine) is the independent reader of our FITS / VOTable outputs in the tests; optional.
check-stilts:
	@command -v stilts >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing STILTS (apt-get install stilts) for the FITS / VOTable tests"; \
	    { apt-get update -qq && apt-get install -y -qq stilts; } >/dev/null 2>&1 || true; \
	  fi; \
	  command -v stilts >/dev/null 2>&1 || echo "STILTS not installed: its tests will be skipped"; }

$(STAMP): setup.py
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || { \
	  echo "error: skysift needs Python 3.11 (found $$($(PYTHON) --version 2>&1) at $(PYTHON))." >&2; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[dev,detect]'
	touch $(STAMP)

install: check-java check-stilts $(STAMP)

demo: install
	MLFLOW_DISABLE_TELEMETRY=true $(VENV)/bin/skysift demo

test: install
	MLFLOW_DISABLE_TELEMETRY=true $(VENV)/bin/python -m pytest -q --durations=30 $(PYTEST_WORKERS)

test-fast: install
	MLFLOW_DISABLE_TELEMETRY=true $(VENV)/bin/python -m pytest -q -m "not slow" $(PYTEST_WORKERS)

clean:
	rm -rf runs demo-output .pytest_cache
