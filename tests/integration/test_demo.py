"""`make demo`'s entry point on a small day of traffic: through the ingest handler, loaded,
built by dbt and summarised from the marts."""

from __future__ import annotations

import pytest

from clickstream.warehouse import connect
from devtools import demo
from devtools.traffic import TrafficStats, generate_requests


def _raw_lines() -> tuple[int, int]:
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "select count(*), count(distinct payload->>'event_id') from staging.raw_events"
        )
        row = cursor.fetchone()
    conn.close()
    assert row is not None
    return row[0], row[1]


def _valid_plus_invalid_events() -> int:
    """Distinct events the marts account for: valid ones plus invalid ones (by event_id)."""
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "select (select count(*) from public.clickstream_events)"
            " + (select count(distinct event_id) from public.invalid_events)"
        )
        row = cursor.fetchone()
    conn.close()
    assert row is not None
    return int(row[0])


def test_demo_sends_loads_and_a_second_run_loads_nothing_new(
    warehouse_db: str, raw_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--events", "300", "--days", "1", "--start", "2026-03-02", "--seed", "3"]
    stats = TrafficStats()
    for _ in generate_requests(300, 1, demo.parse_date("2026-03-02"), 3, stats=stats):
        pass

    assert demo.main(arguments) == 0
    first = capsys.readouterr().out
    assert "sent through the ingest handler" in first
    assert "lines loaded" in first
    assert _raw_lines() == (stats.lines, 300)
    assert _valid_plus_invalid_events() == 300
    assert "http://127.0.0.1:3838" in first
    for heading in ("funnel", "top", "busiest"):
        assert heading in first.lower()

    assert demo.main(arguments) == 0
    assert "loaded 0 objects: 0 lines loaded" in capsys.readouterr().out
    assert _raw_lines() == (stats.lines, 300)


def test_demo_refuses_bad_arguments_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--events", "-1"]) == 2
    assert capsys.readouterr().err == "error: --events must be >= 0 and --days >= 1\n"
