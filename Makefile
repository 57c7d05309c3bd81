# Two commands: `make run` serves the shop, `make test` proves it. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export HOST PORT

.PHONY: run test test-fast test-browser lint bench bench-pages bench-retention demo wiring migrate screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/flask --app wsgi orderflow init
	@echo "orderflow serving on http://$(HOST):$(PORT)  (dashboard: /, log in with the admin token above; API: /api/orders, spec: /api/openapi.json)"
	$(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	scripts/with-postgres $(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not server"

test-browser: install
	$(BIN)/pytest -m browser

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m bench.throughput

# Not part of `make bench`: the first run makes a 1,000,000-order SQLite file (about 10 GB).
bench-pages: install
	$(BIN)/python -m bench.pages

# Not part of `make bench`: the first run makes a 100,000-order SQLite file (about 1 GB).
bench-retention: install
	$(BIN)/python -m bench.retention

demo: install
	$(BIN)/orderflow demo

wiring: install
	$(BIN)/flask --app wsgi orderflow wiring --write README.md

migrate: install
	$(BIN)/flask --app wsgi orderflow migrate

screenshots: install  # docs/screenshots/*.png, from a throw-away server (needs /usr/bin/chromium)
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
