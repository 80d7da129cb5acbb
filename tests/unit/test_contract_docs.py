"""The contract's generated docs (devtools/contract_docs.py) agree with its tables, and the
committed docs/contract.md is current."""

from __future__ import annotations

import json
import re

import pytest

from clickstream.config import PROJECT_ROOT
from clickstream.contract import EVENT_NAMES, validate_event
from devtools.contract_docs import (
    EXAMPLE_EVENT,
    json_schema,
    main,
    markdown_document,
    markdown_table,
)


def test_the_docs_come_from_the_same_tables(capsys: pytest.CaptureFixture[str]) -> None:
    table = markdown_table()
    assert "| `context.product.quantity` | integer from 1 to 10,000 | no |" in table
    main(["--json-schema"])
    schema = json.loads(capsys.readouterr().out)
    assert schema == json_schema()
    assert schema["required"] == [
        "event_id",
        "event_timestamp",
        "event_name",
        "session_id",
        "client_id",
    ]
    assert schema["properties"]["event_name"]["enum"] == list(EVENT_NAMES)
    assert schema["properties"]["ingest"] is False
    assert schema["properties"]["consent_state"]["type"] == ["string", "null"]
    consent_rule = schema["allOf"][1]
    assert consent_rule["if"]["properties"]["event_name"] == {"const": "consent_update"}
    assert consent_rule["then"]["required"] == ["consent_state"]
    # JSON Schema patterns match anywhere in the string unless anchored
    timestamp = schema["properties"]["event_timestamp"]["pattern"]
    assert re.search(timestamp, "2026-03-02T18:04:05Z")
    assert not re.search(timestamp, "on 2026-03-02T18:04:05Z, or so")


def test_docs_contract_md_is_the_generated_document() -> None:
    committed = (PROJECT_ROOT / "docs" / "contract.md").read_text()
    assert committed == markdown_document(), "run `make contract-docs` and commit docs/contract.md"


def test_the_documented_example_is_valid() -> None:
    assert validate_event(EXAMPLE_EVENT) == []
