# The same dbt project on Apache Spark (issue 12, docs/scale.md): pyspark in-process through
# dbt-spark's `session` method, tables and the Derby metastore under .local/spark
# (devtools/spark.py). `make dbt-build TARGET=spark` builds the warehouse there.

.PHONY: setup-spark load-spark

# pyspark needs Java 17: Debian's headless JRE, installed when we can (root with apt-get).
# Only this target installs it: nothing else of the project needs Java.
$(SPARK_INSTALLED): pyproject.toml | $(INSTALLED)
	@command -v java >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's openjdk-17-jre-headless for Spark"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
		else echo "error: Spark needs Java 17 (apt-get install openjdk-17-jre-headless)" >&2; exit 1; fi; }
	$(call install_project,dev$(comma)spark)
	@touch $@

setup-spark: $(SPARK_INSTALLED) ## install pyspark + dbt-spark into .venv, and Java 17 (as root, when missing)

load-spark: $(SPARK_INSTALLED) ## load the new raw objects into Spark's staging tables (.local/spark; LOAD_ARGS as for load)
	$(RUN) $(BIN)/python -m extract_load load --engine spark $(LOAD_ARGS)
