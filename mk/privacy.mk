# Privacy and day-two operations (issue 14.2, 14.3): erasure and replay, each followed by the
# incremental dbt build that recomputes the marts they touched (docs/privacy.md).

.PHONY: erase replay

erase: $(INSTALLED) ## forget a person everywhere, then rebuild what it touched (USER_ID=... or CLIENT_ID=...)
	@test -n "$(USER_ID)$(CLIENT_ID)" || { echo "error: give USER_ID=... or CLIENT_ID=..." >&2; exit 2; }
	$(RUN) $(BIN)/python -m clickstream.privacy erase $(if $(USER_ID),--user-id '$(USER_ID)',--client-id '$(CLIENT_ID)')
	$(DBT) build $(DBT_ARGS)

replay: $(INSTALLED) ## load the hours SINCE..UNTIL again after fixing them in S3, then rebuild what they touched
	@test -n "$(SINCE)" -a -n "$(UNTIL)" || { echo "error: give SINCE=YYYY-MM-DD[THH] UNTIL=YYYY-MM-DD[THH]" >&2; exit 2; }
	$(RUN) $(BIN)/python -m extract_load load --since $(SINCE) --until $(UNTIL) --replay
	$(DBT) build $(DBT_ARGS)
