# Kalanso — `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# make run HOST=0.0.0.0 PORT=5101: serve on another address or port
HOST   ?= 127.0.0.1
PORT   ?= 5000
export FLASK_APP := app

.DEFAULT_GOAL := help
.PHONY: help install install-dev db-upgrade content-check audio run test lint format clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} {printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Kalanso needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime ## Create .venv and install the runtime dependencies

install-dev: $(VENV)/.dev ## Create .venv and install runtime + test dependencies

db-upgrade: install ## Apply the database migrations (flask db upgrade)
	$(BIN)/flask db upgrade

content-check: install ## Validate the courses and report audio coverage
	$(BIN)/flask content check --no-list-missing

audio: install ## Generate the missing French audio (offline eSpeak NG; skips unchanged files)
	$(BIN)/flask content audio

run: install db-upgrade audio content-check ## Install, migrate, make audio, check content, serve on HOST:PORT (default 127.0.0.1:5000; make run PORT=5101)
	$(BIN)/flask users bootstrap
	$(BIN)/flask dev --host $(HOST) --port $(PORT)

test: install-dev ## Install and run lint, the layer contracts and the whole test suite
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: install-dev ## Lint, check formatting and the layer contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install-dev ## Format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove the virtualenv, caches and the local SQLite database
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis instance/kalanso.sqlite3
