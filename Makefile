# warroom: `make test` sets everything up on a fresh clone and runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock
DEV_LOCK := requirements-dev.lock

.PHONY: install lock lint test demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# the exact versions from the lock (dev tools included), then warroom itself without resolving again
$(VENV)/.installed: pyproject.toml $(DEV_LOCK) | $(BIN)/python
	$(BIN)/python -m pip install -q -r $(DEV_LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

install: $(VENV)/.installed

# refresh the locks from pyproject.toml's ranges, keeping every version they hold that still fits:
# requirements-dev.lock (with the dev tools: make, CI) and requirements.lock (what warroom needs to run,
# the same versions). `make lock UPGRADE=1` moves to the newest versions the ranges allow; then `make test`.
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --quiet \
	--custom-compile-command "make lock"
lock: install
	$(UV_COMPILE) --extra dev $(if $(UPGRADE),--upgrade) -o $(DEV_LOCK)
	$(UV_COMPILE) --constraint $(DEV_LOCK) -o $(LOCK)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy warroom
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

demo: install
	$(BIN)/warroom demo

bench: install
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/lifecycle.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/report.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
