# Extract-load (issue 2): raw S3 objects into staging.raw_events, and synthetic traffic.

TRAFFIC_EVENTS ?= 20000
TRAFFIC_DAYS ?= 1
TRAFFIC_ARGS ?=

.PHONY: load load-status prune-raw traffic

load: $(INSTALLED) ## load the new raw objects into staging (LOAD_ARGS="--since 2026-03-01 --until 2026-03-02T12")
	$(RUN) $(BIN)/python -m extract_load load $(LOAD_ARGS)

load-status: $(INSTALLED) ## what the loader has loaded and rejected
	$(RUN) $(BIN)/python -m extract_load status

prune-raw: $(INSTALLED) ## drop raw day partitions past RAW_RETENTION_DAYS that every mart has built and tested (PRUNE_ARGS="--days 30 --dry-run")
	$(RUN) $(BIN)/python -m extract_load prune $(PRUNE_ARGS)

traffic: $(INSTALLED) ## write generated shop traffic to the raw bucket (TRAFFIC_EVENTS, TRAFFIC_DAYS, TRAFFIC_ARGS)
	$(RUN) $(BIN)/python -m devtools.traffic --events $(TRAFFIC_EVENTS) --days $(TRAFFIC_DAYS) $(TRAFFIC_ARGS)
