# Clickstream warehouse: every entry point. `make` alone lists the targets.
# Each target creates .venv and installs the project into it first when they are missing.

.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Made by `make setup-spark` (mk/spark.mk): pyspark, dbt-spark and Java are there.
SPARK_INSTALLED := $(VENV)/.spark-installed
# Made by `make setup` once the system packages the tests need are there (Debian's Chromium).
SYSTEM_PACKAGES := $(VENV)/.system-packages
# Runs a command with the PG*/AWS* variables of the warehouse and bucket, starting the
# embedded PostgreSQL and S3 endpoint first when the environment does not name real ones.
RUN := $(BIN)/python -m devtools.services exec --
DBT_ARGS := --project-dir dbt_project --profiles-dir profiles
DBT := $(RUN) $(BIN)/dbt

# sqlfluff compiles every model through dbt, and is_incremental() depends on what the database
# holds. On the embedded default it works in a database of its own, so it sees the same SQL on
# every machine whatever `make demo` or a test built before, and it checks both shapes of the
# incremental models (devtools/sql_lint.py). With PGHOST set it runs once, against that
# database as it is: lint never builds anything in a real warehouse. dbt's compiled files go to
# a target folder of the lint's own (build/lint-dbt), not dbt_project/target: `make demo` or
# the demo's tests, running at the same time (.ci/run), must not share dbt's state with it.
LINT_DBT_DIR := $(CURDIR)/build/lint-dbt
SQLFLUFF := $(if $(PGHOST),,PGDATABASE=clickstream_lint) \
	DBT_TARGET_PATH=$(LINT_DBT_DIR)/target DBT_LOG_PATH=$(LINT_DBT_DIR)/logs \
	$(RUN) $(BIN)/python -m devtools.sql_lint $(if $(PGHOST),,--both-shapes)

# The demo's traffic: two weeks of a small shop, deterministic for the seed (two weeks, so that
# a weekly cohort of users has a whole week after its first: week-1 retention).
DEMO_EVENTS ?= 20000
DEMO_DAYS ?= 14

.PHONY: help setup services-up services-down services-status demo test lint format bench hourly clean

# Target names in colour on a terminal only: piped or redirected, plain text.
help: ## list the targets
	@if [ -t 1 ]; then on=$$'\033[36m' off=$$'\033[0m'; else on= off=; fi; \
	grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) \
		| sort | awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "}; {printf "  %s%-26s%s %s\n", on, $$1, off, $$2}'

# uv (itself from PyPI) installs the same packages as pip several times faster on a fresh machine:
# it downloads in parallel (here: 1 minute where pip took 6, both with empty caches, busy machine).
# pip when uv cannot be had or fails (uv reads no pip.conf: a private index is pip's job).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# $(call install_project,EXTRAS): the project, editable, with those extras (mk/spark.mk adds
# spark; a comma inside $(call) needs $(comma)).
comma := ,
define install_project
	@if $(BIN)/python -m pip install --quiet uv \
		&& $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[$(1)]'; then \
		echo "installed the project with [$(1)] using uv"; \
	else \
		echo "uv could not install the project: installing with pip"; \
		$(BIN)/python -m pip install --quiet --upgrade pip \
			&& $(BIN)/python -m pip install --quiet -e '.[$(1)]'; \
	fi
endef

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(call install_project,dev)
	@touch $@

# Browser tests drive Debian's Chromium; install it when we can (root with apt-get). Only
# `make setup` installs system packages: `make test` reaches this once on a fresh machine,
# through the stamp, and never runs apt-get after that. It needs only the venv's folder for its
# stamp, so `make -j2 setup` (.ci/run) installs Chromium while uv installs the Python packages.
$(SYSTEM_PACKAGES): | $(BIN)/python
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
		else echo "chromium is missing: browser tests will be skipped (apt-get install chromium chromium-driver)"; fi; }
	@if command -v chromium >/dev/null; then touch $@; fi

setup: $(INSTALLED) $(SYSTEM_PACKAGES) ## create .venv, install the project with its dev tools, and Debian's chromium (as root)

services-up: $(INSTALLED) ## start the embedded PostgreSQL and S3 endpoint (when PGHOST/AWS_ENDPOINT_URL are unset)
	$(BIN)/python -m devtools.services up

services-down: $(INSTALLED) ## stop the embedded services (their data is kept under .local/)
	$(BIN)/python -m devtools.services down

services-status: $(INSTALLED) ## show where the warehouse and the bucket are
	$(BIN)/python -m devtools.services status

demo: $(INSTALLED) ## run the whole pipeline on two generated weeks of traffic and show the marts
	$(RUN) $(BIN)/python -m devtools.demo --events $(DEMO_EVENTS) --days $(DEMO_DAYS)

# One line on stderr and exit 1 when the load, dbt build or freshness fails (devtools/hourly.py);
# NOTIFY is a webhook URL (JSON POST) or a command run with that line.
NOTIFY ?=
HOURLY_ARGS ?=

hourly: $(INSTALLED) ## load new raw objects, dbt build, check freshness; one line + exit 1 on failure (NOTIFY=URL or command)
	@$(RUN) $(BIN)/python -m devtools.hourly $(if $(NOTIFY),--notify '$(NOTIFY)') $(HOURLY_ARGS)

# Tests run in TEST_WORKERS processes (pytest-xdist), handed a whole test file at a time as
# processes free up (--dist loadfile): a module's fixtures (a dbt build, a running app) are
# made once. Files go out in collection order, not fewest-tests-last (--no-loadscope-reorder):
# the browser and warehouse files, few tests but long ones, start early and the many quick unit
# files fill the end. Each test has its own database and bucket. TEST_WORKERS=0: one process.
# (Not --dist loadgroup: pytest-xdist 3.8 cannot tag pytest 9.2's test ids with their group.)
TEST_WORKERS ?= 2

test: $(INSTALLED) $(SYSTEM_PACKAGES) ## run the test suite (real PostgreSQL and S3 on loopback; TEST_WORKERS=2)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

lint: $(INSTALLED) infra-lint ## ruff, mypy, sqlfluff on every model, cfn-lint on the templates
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy clickstream extract_load lambdas dashboard bench infra/scripts infra/host devtools
	$(SQLFLUFF) lint dbt_project

format: $(INSTALLED) ## rewrite Python and SQL in the house style
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(SQLFLUFF) fix dbt_project

bench: $(INSTALLED) ## run the benchmarks; figures go to docs/benchmarks.md
	$(RUN) $(BIN)/python -m bench $(BENCH_ARGS)

clean: services-down ## stop the services and delete .local/ (the embedded data) and build output
	rm -rf .local build dbt_project/target dbt_project/logs

# What needs the browser (e.g. dashboard-screenshots) depends on this, like `make test`.
browser: $(SYSTEM_PACKAGES)
.PHONY: browser

-include mk/*.mk
