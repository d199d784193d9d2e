# nxlink: `make help` lists the targets.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
DEMO_PORT ?= 8000

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install nxlink with every extra

test: $(STAMP) ## Run every test
	$(BIN)/python -m pytest -q

check: $(STAMP) ## Format check, lint, type check, tests
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

demo: $(STAMP) ## Start the server on SQLite with demo data and print how to call it
	$(BIN)/python scripts/demo.py --port $(DEMO_PORT)

bench: $(STAMP) ## HTTP benchmarks on SQLite and PostgreSQL (BACKEND=sqlite|postgres|both, BENCH_ARGS=...)
	$(BIN)/python -m benchmarks.run --backend $(or $(BACKEND),both) $(BENCH_ARGS)

soak: $(STAMP) ## Soak benchmark, 10 min of mixed load per backend (BACKEND=sqlite|postgres|both, SOAK_ARGS=...)
	$(BIN)/python -m benchmarks.soak --backend $(or $(BACKEND),both) $(SOAK_ARGS)

clean: ## Remove the virtualenv and caches (keeps demo and benchmark data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: help install test check demo bench soak clean
