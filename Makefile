# Two commands set everything up on a fresh machine:
#   make demo   create .venv, install the package, run the demo (3 local nodes + a client)
#   make test   create .venv, install the package with its test extras, lint, run every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test lint unit bench bench-rpc bench-startup bench-compress models clean system-deps train bench-decide bench-sim

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

# System packages the tests use: PostgreSQL (a real server, started by the tests as the
# postgres user), iproute2 (network namespaces for partition and emulation tests) and
# nftables/iptables (packet loss in `edgeoffload emulate`; this kernel has no netem).
system-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v ip >/dev/null \
		|| ! command -v nft >/dev/null || ! command -v iptables >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql iproute2 nftables iptables; \
		else echo "note: PostgreSQL/iproute2/nftables missing and cannot be installed here; those tests will skip"; fi; \
	fi

test: lint system-deps
	$(BIN)/python -m pytest

unit: $(VENV)/.test
	$(BIN)/python -m pytest tests/unit tests/property

bench: bench-startup bench-rpc bench-compress

bench-startup: $(VENV)/.bench
	$(BIN)/edgeoffload bench startup

bench-rpc: $(VENV)/.bench
	$(BIN)/edgeoffload bench rpc

# Compression report (trains the digits models with torch; 1 to 3 minutes on 2 cores).
bench-compress: $(VENV)/.test
	$(BIN)/edgeoffload bench compress

# Rebuild the models of docs/compression.md; the small CNN is the one the package ships.
models: $(VENV)/.test
	$(BIN)/edgeoffload compress --build-models build/models
	cp build/models/digits_cnn.onnx src/edgeoffload/models/digits_cnn.onnx

# The decision engine's shipped models: the default policy (100,000 simulated decisions
# on Pensieve's training traces, labelled in hindsight) and the bandwidth predictor.
DECISION_MODELS := src/edgeoffload/decision/models
train: $(VENV)/.test
	$(BIN)/edgeoffload train --model mlp --records 100000 --seed 1 --out $(DECISION_MODELS)/default
	$(BIN)/edgeoffload train --model bandwidth --dataset pensieve_train --out $(DECISION_MODELS)/bandwidth

# Decision engine figures (bench/results/decision.json, docs/decision.md).
bench-decide: $(VENV)/.test
	$(BIN)/edgeoffload bench decide

# Simulator speed on the stress scenario against LEAF (bench/results/sim.json).
bench-sim: $(VENV)/.bench
	$(BIN)/edgeoffload bench sim

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
