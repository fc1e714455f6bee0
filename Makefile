# Lamina — the two commands a fresh machine needs are `make demo` and `make test`.
# Both install everything themselves: Debian packages, a virtual environment, the
# example functions (Python, Node.js with aws-lambda-ric, Rust built offline).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: all setup cluster examples sam-cli demo test test-fast check lint typecheck bench clean

all: test

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,fast]'
	touch $@

# Ray, for the cluster tests (docs/cluster.md): `make test` installs it, `make demo` does not.
cluster: $(VENV)/.cluster

$(VENV)/.cluster: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,fast,cluster]'
	touch $@

examples: setup
	PIP=$(BIN)/pip bash scripts/build-examples.sh

# The SAM CLI in a virtual environment of its own: it pins boto3/botocore versions other
# than the project's. tests/integration/test_sam_cli.py drives it against Lamina.
SAM_CLI_VERSION := 1.170.0
SAM_VENV := build/sam-venv

sam-cli: $(SAM_VENV)/.installed

$(SAM_VENV)/.installed:
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli==$(SAM_CLI_VERSION)'
	touch $@

demo: examples
	$(BIN)/python -m lamina.demo

lint: setup
	$(BIN)/ruff check lamina tests bench
	$(BIN)/ruff format --check lamina tests bench

typecheck: setup
	$(BIN)/mypy

check: lint typecheck

test: examples cluster sam-cli check
	$(BIN)/pytest

# Pure tests only: no root, no servers or other processes, seconds (tests/conftest.py says
# which tests are privileged or slow; a fast run fails a test that starts a process).
test-fast: setup
	$(BIN)/pytest -q -m "not privileged and not slow"

bench: examples
	$(BIN)/python -m bench.invoke

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
