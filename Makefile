# Prosa: `make run` starts everything, `make test` runs the whole suite. Needs Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test services lint format clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)  ## venv, embedded services (unless DATABASE_URL/REDIS_URL), migrate, demo, web+worker+beat
	$(PY) -m config.devserver run

test: $(STAMP)  ## the whole suite against real PostgreSQL and Redis
	$(PY) -m config.devserver test $(ARGS)

services: $(STAMP)  ## only the embedded PostgreSQL and Redis, until Ctrl-C
	$(PY) -m config.devserver services

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:  ## removes the venv and the embedded data (.data/)
	rm -rf $(VENV) .data
