# Model Registry — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test system-test venv migrate load-catalog superuser lint format bench bench-load clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

load-catalog: migrate
	$(PY) manage.py load_bundled_catalog

## make run: install, migrate, load the bundled catalogue, create an admin (password printed once), serve.
run: load-catalog
	$(PY) manage.py ensure_superuser
	$(PY) manage.py runserver $(HOST):$(PORT)

## make superuser: create (another) superuser interactively.
superuser: migrate
	$(PY) manage.py createsuperuser

## make test: install and run the whole suite (PostgreSQL/Redis when they answer; REQUIRE_SERVICES=1 demands them).
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## make system-test: only the system tests (gunicorn workers, real PostgreSQL/Redis, faults injected).
system-test: $(STAMP)
	$(PY) -m pytest -m system tests/system $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) benchmarks/import_catalog.py

## make bench-load: HTTP load figures (gunicorn on loopback, cache on vs off, write storm); ~2 minutes.
bench-load: $(STAMP)
	$(PY) benchmarks/load.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache db.sqlite3
