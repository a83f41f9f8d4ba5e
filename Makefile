# Each target creates the virtual environment first if it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test test-fast lint bench clean

$(VENV)/.installed: requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/pathfit run

# ruff, and the layers stated in pyproject.toml ([tool.importlinter])
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest -n auto

# The tests without the long statistical and network ones (pytest -m slow runs those).
test-fast: lint
	$(PY) -m pytest -n auto -m "not slow"

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_core.py --json runs/bench/bench.json

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
