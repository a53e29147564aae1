# The README's two commands are `make run` and `make test`; `.ci/run` calls `make test`.
SHELL := /bin/bash

VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# Stamps: pip runs again only when pyproject.toml is newer than the last install.
INSTALLED := $(VENV)/.installed
INSTALLED_TEST := $(VENV)/.installed-test

# Debian packages the test suite needs besides Redis and PostgreSQL (which
# scripts/ensure-services.sh checks, installs and starts). Add to this list.
TEST_APT_PACKAGES :=
BENCH_APT_PACKAGES := wrk

PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test bench lint migrate venv geoip

# run: install, migrate, put the default GeoIP database in place, serve
run: migrate geoip
	@scripts/print-welcome.sh
	exec $(PY) server.py

# test: ruff, then the whole pytest suite against real Redis and PostgreSQL
test: $(INSTALLED_TEST)
	scripts/apt-install.sh $(TEST_APT_PACKAGES)
	scripts/ensure-services.sh
	$(PY) -m ruff check .
	@# pytest exits 5 when it collected no test: that fails here like any non-zero code.
	$(PY) -m pytest $(PYTEST_ARGS) || { rc=$$?; \
	  [ $$rc -ne 5 ] || echo "make test: pytest ran no test, which counts as a failure" >&2; \
	  exit $$rc; }

# bench: the gateway (/healthz, the send API, the dispatcher) on PostgreSQL and Redis
# against a hello-world aiohttp, measured with wrk (bench/run.py says how)
bench: $(INSTALLED) geoip
	scripts/apt-install.sh $(BENCH_APT_PACKAGES)
	scripts/ensure-services.sh
	$(PY) bench/run.py $(BENCH_ARGS)

# lint: ruff check and ruff format --check
lint: $(INSTALLED_TEST)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# migrate: bring the database at SECGATE_DATABASE_URL up to date
migrate: $(INSTALLED)
	$(PY) -m secgate migrate

# geoip: the default GeoIP database, when SECGATE_GEOIP_DB is not set and it is missing
geoip: $(INSTALLED)
	$(PY) -m secgate.geo.default_db

# venv: create .venv and install the project
venv: $(INSTALLED)

$(PY):
	scripts/make-venv.sh $(VENV)

$(INSTALLED): pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

$(INSTALLED_TEST): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[test]'
	touch $@ $(INSTALLED)
