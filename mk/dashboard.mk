# The analytics dashboards (issue 5): docs/dashboard.md.
DASHBOARD_HOST ?= 127.0.0.1
DASHBOARD_PORT ?= 3838

.PHONY: dashboard dashboard-screenshots

dashboard: $(INSTALLED) ## serve the dashboards on http://127.0.0.1:3838 (the configured warehouse, else the embedded one)
	$(RUN) $(BIN)/python -m dashboard --host $(DASHBOARD_HOST) --port $(DASHBOARD_PORT)

dashboard-screenshots: $(INSTALLED) browser ## rebuild docs/screenshots/*.png from four generated weeks (database dashboard_screenshots)
	$(RUN) $(BIN)/python -m dashboard.screenshots --build --out docs/screenshots
