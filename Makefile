# Two commands set everything up on a fresh machine:
#   make demo   create .venv, install the package, run the demo (3 local nodes + a client)
#   make test   create .venv, install the package with its test extras, lint, run every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test lint unit docs bench bench-rpc bench-abuse bench-startup bench-compress models aoi-models clean system-deps \
	train bench-decide bench-sim image docker-start docker-stop bench-deploy

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
	$(BIN)/ruff check src tests examples
	$(BIN)/mypy
	$(BIN)/lint-imports

# System packages the tests use: PostgreSQL (a real server, started by the tests as the
# postgres user), iproute2 (network namespaces for partition and emulation tests),
# nftables/iptables (packet loss in `edgeoffload emulate`; this kernel has no netem),
# Debian's chromium (the dashboard's browser test drives it with Playwright; never
# `playwright install`), and for the container tests a Docker engine (docker.io),
# docker-compose and debootstrap (the base image is made from the Debian mirror).
system-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v ip >/dev/null \
		|| ! command -v nft >/dev/null || ! command -v iptables >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql iproute2 nftables iptables; \
		else echo "note: PostgreSQL/iproute2/nftables missing and cannot be installed here; those tests will skip"; fi; \
	fi
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
		else echo "note: chromium missing and cannot be installed here; the dashboard test will skip"; fi; \
	fi
	@if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null || ! command -v debootstrap >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
				docker.io docker-compose debootstrap; \
		else echo "note: docker.io/docker-compose/debootstrap missing and cannot be installed here; the container tests will skip"; fi; \
	fi

test: lint system-deps
	$(BIN)/python -m pytest

# The dashboard's screenshot (docs/img/dashboard.png), taken by its browser test; fails
# (instead of skipping) when the browser cannot run.
docs: $(VENV)/.test system-deps
	DASHBOARD_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q tests/e2e/test_dashboard.py -k follows

unit: $(VENV)/.test
	$(BIN)/python -m pytest tests/unit tests/property

bench: bench-startup bench-rpc bench-compress

bench-startup: $(VENV)/.bench
	$(BIN)/edgeoffload bench startup --update-docs

bench-rpc: $(VENV)/.bench
	$(BIN)/edgeoffload bench rpc --update-docs

# A well-behaved client beside abusive ones (bench/results/abuse.json, docs/reliability.md);
# about 30 s. A benchmark, not part of `make test`.
bench-abuse: $(VENV)/.bench
	$(BIN)/edgeoffload bench abuse --update-docs

# Compression report (trains the digits models with torch; 1 to 3 minutes on 2 cores).
bench-compress: $(VENV)/.test
	$(BIN)/edgeoffload bench compress --update-docs

# Rebuild the models of docs/compression.md; the small CNN is the one the package ships.
models: $(VENV)/.test
	$(BIN)/edgeoffload compress --build-models build/models --only digits_cnn --only digits_mlp
	cp build/models/digits_cnn.onnx src/edgeoffload/models/digits_cnn.onnx

# The AOI example's committed models (examples/aoi/README.md): train the defect
# classifier on generated parts (3 to 5 minutes on 2 shared cores), then its static INT8.
AOI_MODELS := examples/aoi/models
aoi-models: $(VENV)/.test
	$(BIN)/edgeoffload compress --build-models build/aoi --only aoi_cnn
	cp build/aoi/aoi_cnn.onnx $(AOI_MODELS)/aoi_cnn.onnx
	$(BIN)/edgeoffload compress $(AOI_MODELS)/aoi_cnn.onnx --int8 static \
	  --calibration build/aoi/aoi_cnn.calibration.npz --data build/aoi/aoi_cnn.test.npz \
	  --out $(AOI_MODELS)/aoi_cnn.int8_static.onnx

# The decision engine's shipped models: the default policy (100,000 simulated decisions
# on Pensieve's training traces, labelled in hindsight) and the bandwidth predictor.
DECISION_MODELS := src/edgeoffload/decision/models
train: $(VENV)/.test
	$(BIN)/edgeoffload train --model mlp --records 100000 --seed 1 --out $(DECISION_MODELS)/default
	$(BIN)/edgeoffload train --model bandwidth --dataset pensieve_train --out $(DECISION_MODELS)/bandwidth
	$(BIN)/edgeoffload train --model risk --records 15000 --seed 1 --out $(DECISION_MODELS)/risk

# Decision engine figures (bench/results/decision.json, docs/decision.md).
bench-decide: $(VENV)/.test
	$(BIN)/edgeoffload bench decide --update-docs

# Simulator speed on the stress scenario against LEAF (bench/results/sim.json).
bench-sim: $(VENV)/.bench
	$(BIN)/edgeoffload bench sim --update-docs

# The container image (deploy/image.sh: base image from debootstrap if the engine lacks
# it, wheels into deploy/wheels, docker build). Uses the engine at DOCKER_HOST, or starts
# one of its own in a network namespace (docker-start; `make docker-stop` ends it).
image: $(VENV)/.base
	PYTHON=$(BIN)/python deploy/image.sh
	@echo "built edgeoffload:latest; to use it: export $$(deploy/docker-engine.sh env) (unless your own engine built it)"

docker-start:
	deploy/docker-engine.sh start

docker-stop:
	deploy/docker-engine.sh stop

# Cold start of the node container, from docker run to a task answered, unlimited and at
# 0.1 CPU (bench/results/deploy.json, docs/deployment.md; a few minutes).
bench-deploy: $(VENV)/.test
	$(BIN)/edgeoffload bench deploy --update-docs

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
