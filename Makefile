# The two commands: `make lab` (the weekly analysis in JupyterLab) and `make test`.
# Both set up everything they need from nothing: a .venv with the CPU build of
# PyTorch and the pinned dependencies of constraints.txt.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
NOTEBOOK ?= notebooks/01_weekly_error_analysis.ipynb

.PHONY: setup lab demo test lint services stop-services clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev,postgres]"
	touch $@

# JupyterLab refuses to run as root unless told; containers often run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	$(BIN)/jupyter lab $(ROOT_FLAG) $(NOTEBOOK)

demo: setup
	$(BIN)/workbench demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup
	PYTHON=$(BIN)/python bash scripts/test.sh

services: setup
	PYTHON=$(BIN)/python bash scripts/services.sh start

stop-services:
	bash scripts/services.sh stop

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
