# One command runs the main job, one runs the tests; both set themselves up.
#   make run    run the world of config.yaml (agents live for run.duration seconds)
#   make test   run the test suite
#   make check  lint, format check and type check
#   make bench  the ledger, agent and local-model benchmarks (outside the test suite)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is installed first and pinned to the CPU build: an unpinned torch pulls a multi-GB
# CUDA build from PyPI. Override TORCH_SPEC (and PIP_EXTRA_INDEX_URL) elsewhere, see README.
TORCH_SPEC ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: run test check bench setup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/agent-ecology run --config config.yaml

test: $(STAMP)
	$(BIN)/pytest

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/ledger.py
	$(BIN)/python benchmarks/agents.py
	$(BIN)/python benchmarks/local.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .hypothesis
