"""The warehouse's timestamp rule (macros/safe_casts.sql: shape, then calendar arithmetic,
then PostgreSQL's parser or the offset by hand) against the contract's own validator
(clickstream/contract.py), string by string: the same verdict, the same instant."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import pytest

from clickstream.contract import validate_event
from extract_load.schema import ensure_schema
from tests.integration.dbt_support import dbt, execute, query

pytestmark = pytest.mark.slow

TIMESTAMPS = [
    # accepted
    "2026-03-02T18:04:05Z",
    "2026-03-02T18:04:05.1Z",
    "2026-03-02T18:04:05.123456789-05:00",
    "2026-03-02T18:04:05+00:00",
    "2026-03-02T18:04:05.5+15:59",
    "2026-03-02T18:04:05+16:00",  # past PostgreSQL's own parser: by hand
    "2026-03-02T01:04:05-23:59",
    "2024-02-29T00:00:00Z",
    "2000-02-29T23:59:59.999999Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-04-30T12:00:00Z",
    # refused
    "2026-02-29T00:00:00Z",
    "1900-02-29T00:00:00Z",
    "2026-02-30T10:00:00Z",
    "2026-04-31T10:00:00Z",
    "2026-13-01T10:00:00Z",
    "2026-00-01T10:00:00Z",
    "2026-03-00T10:00:00Z",
    "0000-03-02T10:00:00Z",
    "2026-03-02T24:00:00Z",
    "2026-03-02T18:60:05Z",
    "2026-03-02T18:04:60Z",
    "2026-03-02T18:04:05+24:00",
    "2026-03-02T18:04:05+01:60",
    "2026-03-02T18:04:05",
    "2026-03-02 18:04:05Z",
    "2026-03-02t18:04:05Z",
    "2026-03-02T18:04:05z",
    "2026-03-02T18:04Z",
    "2026-03-02T18:04:05.Z",
    "2026-03-02T18:04:05.1234567890Z",
    "2026-03-02T18:04:05+0100",
    "2026-03-02T18:04:05+01",
    "2026-3-02T18:04:05Z",
    "20260302T180405Z",
    "2026-03-02T18:04:05ZZ",
    " 2026-03-02T18:04:05Z",
    "2026-03-02T18:04:05Z ",
    "abcd-ef-ghTij:kl:mnZ",
    "\uff12\uff10\uff12\uff16-03-02T18:04:05Z",
    "2026-03-02T18:04:05.12a4Z",
    "",
    "1772470000",
]


def _payload(timestamp: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_timestamp": timestamp,
        "event_name": "page_view",
        "session_id": "s",
        "client_id": "c",
        "ingest": {"received_at": "9999-12-31T23:59:59Z"},
    }


def _contract_instant(timestamp: Any) -> datetime | None:
    """The instant the contract reads, or None when it refuses the string."""
    if validate_event({k: v for k, v in _payload(timestamp).items() if k != "ingest"}):
        return None
    return datetime.fromisoformat(timestamp).astimezone(UTC)


def test_timestamps_are_read_as_the_contract_reads_them(warehouse_db: str) -> None:
    conn = psycopg2.connect()
    ensure_schema(conn)
    conn.close()
    values = [*TIMESTAMPS, 1772470000, None]
    for number, timestamp in enumerate(values, start=1):
        execute(
            "insert into staging.raw_events (payload, s3_key, line_number, load_id)"
            " values (%s, 'timestamps', %s, gen_random_uuid())",
            json.dumps(_payload(timestamp)),
            number,
        )
    dbt("run", "--select", "stg_clickstream__raw_events", "int_events_classified")

    rows = query(
        "select line_number, event_timestamp, invalid_reasons"
        " from dbt_intermediate.int_events_classified order by line_number"
    )
    assert len(rows) == len(values)
    for (number, instant, reasons), timestamp in zip(rows, values, strict=True):
        expected = _contract_instant(timestamp)
        timestamp_reasons = [reason for reason in reasons if reason.startswith("event_timestamp")]
        if expected is None:
            assert instant is None, f"line {number}: {timestamp!r}"
        else:  # PostgreSQL rounds nanoseconds to the microsecond, Python truncates them
            assert instant is not None, f"{timestamp!r}"
            assert abs(instant - expected) <= timedelta(microseconds=1), f"{timestamp!r}"
        assert (timestamp_reasons == []) == (expected is not None), f"{timestamp!r}: {reasons}"
