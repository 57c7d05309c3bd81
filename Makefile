# Two commands: `make run` serves the shop, `make test` proves it. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export HOST PORT

.PHONY: install lock audit run test test-fast test-browser test-container lint bench bench-pages bench-retention chaos chaos-short demo wiring migrate screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The development lock (tests, browser, lint, the lock and audit tools, and every runtime pin),
# installed with its hashes; then the project itself, without resolving anything again. pip
# itself comes first, from its own hashed pin: the pip a new venv brings (23.x) refuses a hashed
# lock in which a package needs another with an extra (pip-audit: CacheControl[filecache]).
$(VENV)/.installed: requirements/dev.txt requirements/pip.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/pip.txt
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

# The one command that writes the locks from pyproject.toml, with hashes: requirements/runtime.txt
# (what the image installs), requirements/dev.txt (runtime pins plus the dev extra, held to
# the runtime pins) and requirements/pip.txt (pip, as dev.txt pins it). Keeps current pins
# where they still fit; `make lock UPGRADE=1` takes the newest versions the bounds allow. Needs
# PyPI.
LOCK_FLAGS := --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
LOCK := $(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS)
lock: install
	$(LOCK) -o requirements/runtime.txt
	$(LOCK) --extra dev -c requirements/runtime.txt -o requirements/dev.txt
	echo pip | $(BIN)/uv pip compile - $(LOCK_FLAGS) -c requirements/dev.txt -o requirements/pip.txt

# Known vulnerabilities in what the image installs (needs the network: scripts/audit says so
# and succeeds when PyPI cannot be reached; a vulnerability found fails it).
audit: install
	$(BIN)/python scripts/audit

run: install
	$(BIN)/flask --app wsgi orderflow init
	$(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	scripts/with-postgres $(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not server"

test-browser: install
	$(BIN)/pytest -m browser

# Builds the Containerfile on a Debian base made here and runs it (podman; see ADR 0019).
test-container: install
	$(BIN)/pytest -m container tests/container

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

# Real servers, SIGKILLs, clients retrying with Idempotency-Key; the invariants are read from
# the database (scripts/chaos.py). Not part of `make test`; .ci/run runs the short form.
CHAOS := $(BIN)/python scripts/chaos.py
CHAOS_PG = scripts/with-postgres sh -c '$(CHAOS) --database-url "$$ORDERFLOW_TEST_POSTGRES_URL" --processes 3 $(1)'
chaos: install
	$(call CHAOS_PG,--orders 2000 --kills 20)
	$(CHAOS) --processes 1 --orders 1000 --kills 10

chaos-short: install
	$(call CHAOS_PG,--orders 200 --kills 4)
	$(CHAOS) --processes 1 --orders 200 --kills 4

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
