# dbt: the warehouse's models, tests and docs (issue 3). Reuses $(DBT) and $(DBT_ARGS).

DOCS_HOST ?= 127.0.0.1
DOCS_PORT ?= 8081
# The profile target (profiles/profiles.yml): empty is the default, PostgreSQL; `spark` builds
# the same models on Apache Spark (mk/spark.mk installs what it needs first).
TARGET ?=
DBT_TARGET_ARGS := $(if $(TARGET),--target $(TARGET))
DBT_NEEDS := $(INSTALLED) $(if $(filter spark,$(TARGET)),$(SPARK_INSTALLED))

.PHONY: dbt-build dbt-full-refresh dbt-test-all dbt-freshness docs docs-serve

dbt-build: $(DBT_NEEDS) ## build and test the warehouse (incremental: only what new raw lines touch; TARGET=spark on Spark)
	$(DBT) build $(DBT_ARGS) $(DBT_TARGET_ARGS)

dbt-full-refresh: $(DBT_NEEDS) ## rebuild every mart from all raw lines (same result as the incremental runs)
	$(DBT) build --full-refresh $(DBT_ARGS) $(DBT_TARGET_ARGS)

dbt-test-all: $(DBT_NEEDS) ## run every data test on whole tables (a build checks only the rows it changed)
	$(DBT) test $(DBT_ARGS) $(DBT_TARGET_ARGS) --vars '{full_checks: true}'

dbt-freshness: $(DBT_NEEDS) ## check that raw events keep arriving (warn after 2 h, error after 6 h)
	$(DBT) source freshness $(DBT_ARGS) $(DBT_TARGET_ARGS)

docs: $(DBT_NEEDS) ## generate the dbt docs site for analysts (dbt_project/target/)
	$(DBT) docs generate $(DBT_ARGS) $(DBT_TARGET_ARGS)

docs-serve: docs ## serve the dbt docs on http://127.0.0.1:8081
	$(DBT) docs serve $(DBT_ARGS) $(DBT_TARGET_ARGS) --host $(DOCS_HOST) --port $(DOCS_PORT) --no-browser
