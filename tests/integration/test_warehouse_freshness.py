"""Source freshness on staging.raw_events.loaded_at: warn after 2 hours without a new line,
error after 6 (`make dbt-freshness`)."""

from __future__ import annotations

import uuid

import pytest

from clickstream.warehouse import connect
from extract_load.schema import ensure_schema
from tests.integration.dbt_support import dbt_result, execute

pytestmark = pytest.mark.slow


def _freshness_status() -> str:
    result = dbt_result("source", "freshness", "--select", "source:clickstream.raw_events")
    assert result.result is not None, result.exception
    statuses = {item.node.unique_id: str(item.status) for item in result.result}
    (raw_events,) = [node for node in statuses if node.endswith(".raw_events")]
    return statuses[raw_events]


def _load_a_line(hours_ago: int) -> None:
    execute(
        "insert into staging.raw_events (payload, s3_key, line_number, loaded_at, load_id)"
        " values ('{}', 'k', 1, now() - make_interval(hours => %s), %s)",
        hours_ago,
        str(uuid.uuid4()),
    )


def test_raw_events_turn_stale_after_2_hours_and_fail_after_6(warehouse_db: str) -> None:
    conn = connect()
    ensure_schema(conn)
    conn.close()
    _load_a_line(hours_ago=7)
    assert _freshness_status() == "error"
    _load_a_line(hours_ago=3)
    assert _freshness_status() == "warn"
    _load_a_line(hours_ago=0)
    assert _freshness_status() == "pass"
