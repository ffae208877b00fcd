# Two commands set everything up on a fresh machine:
#   make demo   create .venv, install the package, run the demo (3 local nodes + a client)
#   make test   create .venv, install the package with its test extras, lint, run every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test lint unit bench bench-rpc bench-startup clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.base: pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[test]'
	touch $@ $(VENV)/.base

$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[test,bench]'
	touch $@ $(VENV)/.base $(VENV)/.test

demo: $(VENV)/.base
	$(BIN)/edgeoffload demo

lint: $(VENV)/.test
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

unit: $(VENV)/.test
	$(BIN)/python -m pytest tests/unit tests/property

bench: bench-startup bench-rpc

bench-startup: $(VENV)/.bench
	$(BIN)/edgeoffload bench startup

bench-rpc: $(VENV)/.bench
	$(BIN)/edgeoffload bench rpc

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
