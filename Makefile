# One virtual environment at .venv, pinned by constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint fmt bench clean venv portal-vendor

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Start the whole platform locally (broker, database, every service); Ctrl-C stops it.
dev: $(STAMP)
	$(BIN)/pao dev

## Lint, type-check, then run the test suite (starts the broker it needs by itself).
test: $(STAMP) lint
	$(BIN)/pytest

## Ruff, formatting, mypy, and the import layering contracts of pyproject.toml
## ([tool.importlinter]: libs never import services, services never import each other,
## the orchestrator's domain imports only contracts and the catalog language).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Benchmarks: print figures, assert nothing.
bench: $(STAMP)
	$(BIN)/python -m tests.bench

## Rebuild the portal's bundled npm files from services/gateway/portal-build's lock file
## (committed, so the gateway serves them without npm or a CDN at run time).
PORTAL_BUILD := services/gateway/portal-build
portal-vendor:
	cd $(PORTAL_BUILD) && npm ci --no-audit --no-fund
	cp $(PORTAL_BUILD)/node_modules/chart.js/dist/chart.umd.min.js services/gateway/pao_gateway/portal/chart.umd.min.js

clean:
	rm -rf $(VENV) .pao .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
