# Entry points.  `make run` and `make test` work on a fresh machine with
# Python 3.11+, a C compiler and the Python headers.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench build annotate clean

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

# Rebuild the Cython extensions in place when a .pyx or .pxd changed.
build: $(STAMP)
	$(PY) setup.py -q build_ext --inplace

run: build
	$(VENV)/bin/cryptobot run

test: build
	$(PY) -m pytest

bench: build
	$(PY) -m pip install -e '.[dev,bench]'
	$(PY) -m pytest benchmarks -p no:randomly --benchmark-only --benchmark-columns=min,median,mean,max,rounds

annotate: $(STAMP)
	CRYPTOBOT_ANNOTATE=1 $(PY) setup.py -q build_ext --inplace --force

clean:
	rm -rf build $(VENV) hotpath/*.c hotpath/*.so hotpath/*.html
