# Entry points.  `make run` and `make test` work on a fresh machine with
# Python 3.11+, a C compiler and the Python headers.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
HOTPATH := $(wildcard hotpath/*.pyx hotpath/*.pxd hotpath/*.pxi)

.PHONY: run test bench build-dev annotate clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools

# The engine and its chart extra (what `make run` and the README's backtest example need);
# installing builds the Cython extensions in place.
$(RUN_STAMP): pyproject.toml setup.py $(HOTPATH) | $(VENV)/bin/python
	$(PY) -m pip install -e '.[chart]'
	touch $@

# The engine with the test and development tools.
$(DEV_STAMP): pyproject.toml setup.py | $(VENV)/bin/python
	$(PY) -m pip install -e '.[dev]'
	touch $@ $(RUN_STAMP)

# Rebuild the Cython extensions in place when a .pyx or .pxd changed (Cython comes with the dev tools).
build-dev: $(DEV_STAMP)
	$(PY) setup.py -q build_ext --inplace

run: $(RUN_STAMP)
	$(VENV)/bin/cryptobot run

test: build-dev
	$(PY) -m pytest

# pytest-benchmark suites; the scripts in benchmarks/ run one by one (see docs/benchmarks.md).
bench: build-dev
	$(PY) -m pip install -e '.[dev,bench]'
	$(PY) -m pytest benchmarks -p no:randomly --benchmark-only --benchmark-columns=min,median,mean,max,rounds

annotate: $(DEV_STAMP)
	CRYPTOBOT_ANNOTATE=1 $(PY) setup.py -q build_ext --inplace --force

clean:
	rm -rf build $(VENV) hotpath/*.c hotpath/*.so hotpath/*.html
