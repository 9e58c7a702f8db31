# warroom: `make test` sets everything up on a fresh clone and runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock

.PHONY: install lock lint test demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# the exact versions from the lock (dev tools included), then warroom itself without resolving again
$(VENV)/.installed: pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install -q -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

install: $(VENV)/.installed

# refresh the lock from pyproject.toml's ranges, keeping every version it already holds that still fits;
# `make lock UPGRADE=1` moves everything to the newest versions the ranges allow (then run `make test`)
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --quiet \
		--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) -o $(LOCK)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy incident integrations tasks flows warroom
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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
