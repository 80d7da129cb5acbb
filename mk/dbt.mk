# dbt: the warehouse's models, tests and docs (issue 3). Reuses $(DBT) and $(DBT_ARGS).

DOCS_HOST ?= 127.0.0.1
DOCS_PORT ?= 8081

.PHONY: dbt-build dbt-full-refresh dbt-test-all dbt-freshness docs docs-serve

dbt-build: $(INSTALLED) ## build and test the warehouse (incremental: only what new raw lines touch)
	$(DBT) build $(DBT_ARGS)

dbt-full-refresh: $(INSTALLED) ## rebuild every mart from all raw lines (same result as the incremental runs)
	$(DBT) build --full-refresh $(DBT_ARGS)

dbt-test-all: $(INSTALLED) ## run every data test on whole tables (a build checks only the rows it changed)
	$(DBT) test $(DBT_ARGS) --vars '{full_checks: true}'

dbt-freshness: $(INSTALLED) ## check that raw events keep arriving (warn after 2 h, error after 6 h)
	$(DBT) source freshness $(DBT_ARGS)

docs: $(INSTALLED) ## generate the dbt docs site for analysts (dbt_project/target/)
	$(DBT) docs generate $(DBT_ARGS)

docs-serve: docs ## serve the dbt docs on http://127.0.0.1:8081
	$(DBT) docs serve $(DBT_ARGS) --host $(DOCS_HOST) --port $(DOCS_PORT) --no-browser
