# Prosa: `make run` starts everything, `make test` runs the whole suite. Needs Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test services lint format clean vendor

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)  ## venv, embedded services (unless DATABASE_URL/REDIS_URL), migrate, demo, web+worker+beat
	$(PY) -m config.devserver run

# One pytest-xdist worker per core (each with its own test database and Redis database); a file's
# tests stay on one worker so its module fixtures (servers, browsers) start once. TEST_WORKERS=0
# runs everything in one process.
TEST_WORKERS ?= auto
test: $(STAMP)  ## the whole suite against real PostgreSQL and Redis
	$(PY) -m config.devserver test -n $(TEST_WORKERS) --dist loadfile $(ARGS)

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

# Front-end libraries are vendored into static/vendor/ (committed; no CDN, no download at run time).
HTMX_VERSION := 2.0.11
DRAWFLOW_VERSION := 0.0.60
CHARTJS_VERSION := 4.5.1
vendor:  ## refreshes static/vendor/ from the npm registry (needs npm)
	rm -rf .vendor-tmp && mkdir -p .vendor-tmp
	cd .vendor-tmp && npm install --no-audit --no-fund --no-save --ignore-scripts htmx.org@$(HTMX_VERSION)
	mkdir -p static/vendor/htmx
	cp .vendor-tmp/node_modules/htmx.org/dist/htmx.min.js .vendor-tmp/node_modules/htmx.org/LICENSE static/vendor/htmx/
	echo "htmx.org $(HTMX_VERSION) (npm), dist/htmx.min.js — refreshed by \`make vendor\`." > static/vendor/htmx/VERSION
	cd .vendor-tmp && npm install --no-audit --no-fund --no-save --ignore-scripts chart.js@$(CHARTJS_VERSION)
	mkdir -p static/vendor/chartjs
	cp .vendor-tmp/node_modules/chart.js/dist/chart.umd.min.js .vendor-tmp/node_modules/chart.js/LICENSE.md static/vendor/chartjs/
	echo "chart.js $(CHARTJS_VERSION) (npm), dist/chart.umd.min.js — refreshed by \`make vendor\`." > static/vendor/chartjs/VERSION
	cd .vendor-tmp && npm install --no-audit --no-fund --no-save --ignore-scripts drawflow@$(DRAWFLOW_VERSION)
	mkdir -p static/vendor/drawflow
	cp .vendor-tmp/node_modules/drawflow/dist/drawflow.min.js .vendor-tmp/node_modules/drawflow/dist/drawflow.min.css .vendor-tmp/node_modules/drawflow/LICENSE static/vendor/drawflow/
	echo "drawflow $(DRAWFLOW_VERSION) (npm), dist/drawflow.min.js and .css — refreshed by \`make vendor\`." > static/vendor/drawflow/VERSION
	rm -rf .vendor-tmp

# --- Benchmarks: webhook intake and real time (bench/README.md). Need wrk: apt-get install -y wrk.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) bench/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $(BENCH_STAMP)

.PHONY: bench-intake bench-realtime
bench-intake: $(BENCH_STAMP)  ## signed webhooks/s and latency per ASGI server, 0 lost (ARGS=--servers daphne,...)
	$(PY) -m bench.webhook_intake $(ARGS)

bench-realtime: $(BENCH_STAMP)  ## 500 WebSocket clients: webhook POST → message.created delay, server RSS
	$(PY) -m bench.realtime $(ARGS)

# --- Benchmarks: data at scale, inbox list, end-to-end inbound (bench/README.md). Point them at a
# database and Redis db of their own: DATABASE_URL=postgres://…/prosa_bench REDIS_URL=redis://…/4 make bench-seed
.PHONY: bench-seed bench-inbox bench-inbound
bench-seed: $(STAMP)  ## migrate, then seed_load: 5 tenants, 100k tickets, 1M messages, 50k contacts (once per database)
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_load --tenants 5 --tickets 100000 --messages 1000000 --contacts 50000 $(ARGS)

bench-inbox: $(STAMP)  ## ticket list API per tab/filter on the seeded data: p50/p95, queries (ARGS=--requests 200)
	$(PY) -m bench.inbox_list $(ARGS)

bench-inbound: $(STAMP)  ## stored webhooks → Celery workers → messages/s, SQL per message, raw-INSERT baseline
	$(PY) -m bench.inbound_e2e $(ARGS)

.PHONY: bench-campaign
bench-campaign: $(STAMP)  ## 10,000 recipients at 80 msg/s vs the fake Graph API, a worker killed mid-run: rate, 0 duplicates
	$(PY) -m bench.campaign_dispatch $(ARGS)
