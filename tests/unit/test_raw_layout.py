from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from clickstream.raw_layout import (
    anonymise_ip,
    encode_ndjson,
    hour_prefixes,
    ingest_block,
    raw_object_key,
)


def test_key_uses_the_utc_hour_of_received_at() -> None:
    paris = timezone(timedelta(hours=2))
    key = raw_object_key("events/", datetime(2026, 3, 1, 1, 30, tzinfo=paris), "abc")
    assert key == "events/2026/02/28/23/events-abc.json"


def test_hour_prefixes_cover_both_ends() -> None:
    since = datetime(2026, 1, 1, 22, 15, tzinfo=UTC)
    until = datetime(2026, 1, 2, 1, 0, tzinfo=UTC)
    assert list(hour_prefixes("events/", since, until)) == [
        "events/2026/01/01/22/",
        "events/2026/01/01/23/",
        "events/2026/01/02/00/",
        "events/2026/01/02/01/",
    ]


@pytest.mark.parametrize(
    ("source_ip", "expected"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::"),
        ("not an address", None),
        (None, None),
    ],
)
def test_source_ip_is_anonymised(source_ip: str | None, expected: str | None) -> None:
    assert anonymise_ip(source_ip) == expected


def test_ingest_block_and_ndjson() -> None:
    received = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
    block = ingest_block(received, "req-1", "198.51.100.9", "UA")
    assert block == {
        "received_at": "2026-05-04T03:02:01.123Z",
        "request_id": "req-1",
        "source_ip": "198.51.100.0",
        "user_agent": "UA",
    }
    body = encode_ndjson([{"a": "é"}, {"b": 1}])
    assert body.decode("utf-8").splitlines() == ['{"a":"é"}', '{"b":1}']
    assert [json.loads(line) for line in body.splitlines()] == [{"a": "é"}, {"b": 1}]
    with pytest.raises(ValueError, match="Out of range float"):
        encode_ndjson([{"x": float("nan")}])
