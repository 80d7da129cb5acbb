# Ingest API and browser tracker (issue 4): the local endpoint and demo shop.

SERVE_PORT ?= 8080

.PHONY: serve contract-docs

serve: $(INSTALLED) ## serve POST /clickstream (the real handler) and the demo shop on 127.0.0.1 (SERVE_PORT, default 8080)
	$(RUN) $(BIN)/python -m lambdas.ingest.server --port $(SERVE_PORT)

contract-docs: $(INSTALLED) ## regenerate docs/contract.md from clickstream/contract.py (devtools/contract_docs.py)
	$(BIN)/python -m devtools.contract_docs --markdown > docs/contract.md
