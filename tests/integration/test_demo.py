"""`make demo`'s entry point on a small day of traffic: through the ingest handler, loaded,
built by dbt and summarised from the marts."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from datetime import date
from typing import Any

import pytest

from clickstream.config import PROJECT_ROOT
from clickstream.warehouse import connect
from devtools import demo
from devtools.traffic import BOT_USER_AGENTS, Request, TrafficStats, generate_requests
from tests.integration import dbt_support


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


def _one(sql: str) -> Any:
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    conn.close()
    assert row is not None
    return row[0]


def _one_bot_session(requests: list[Request]) -> bool:
    bots = {
        event["session_id"]
        for request in requests
        if request.user_agent in BOT_USER_AGENTS
        for event in request.events
    }
    return len(bots) == 1


def test_demo_sends_loads_accounts_for_every_session_and_a_second_run_changes_nothing(
    warehouse_db: str, raw_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Seed 112 makes two sessions whose client clock runs hours fast: every event of theirs
    # breaks the contract, so they are in the traffic's sessions but not in the funnel; and
    # one crawler's session, which the marts leave out (fct_bot_traffic_daily counts it).
    arguments = ["--events", "500", "--days", "1", "--start", "2026-03-02", "--seed", "112"]
    stats = TrafficStats()
    requests = list(generate_requests(500, 1, demo.parse_date("2026-03-02"), 112, stats=stats))
    assert stats.skewed_sessions == 2
    assert _one_bot_session(requests)

    assert demo.main(arguments) == 0
    first = capsys.readouterr().out
    assert "sent through the ingest handler" in first
    assert f"{stats.sessions:,} sessions, {len(requests):,} requests sent" in first
    assert "lines loaded" in first
    assert _raw_lines() == (stats.lines, 500)
    assert _valid_plus_invalid_events() == 500
    funnel_sessions = _one("select sum(sessions) from public.fct_funnel_daily")
    assert funnel_sessions == stats.sessions - 3
    assert (
        f"sessions: {stats.sessions} generated, {funnel_sessions} in the funnel; of the other"
        " 3, 2 have only invalid events (event_timestamp: more than 1 hour after"
        " ingest.received_at; kept in invalid_events), 1 are bots and crawlers (counted in"
        " fct_bot_traffic_daily only)\n"
    ) in first
    assert "== the marts, for 2026-03-02 (UTC)" in first
    assert "http://127.0.0.1:3838" in first
    for heading in ("funnel", "top", "busiest"):
        assert heading in first.lower()
    assert "nothing new arrived" not in first

    assert demo.main(arguments) == 0
    second = capsys.readouterr().out
    assert "loaded 0 objects: 0 lines loaded" in second
    assert f"nothing new arrived: {len(requests)} objects already loaded, marts unchanged\n" in (
        second
    )
    assert _raw_lines() == (stats.lines, 500)
    # The marts read the same as after the first run.
    assert second.split("== the marts")[1] == first.split("== the marts")[1]
    runs = "select count(*), count(*) filter (where objects = 0) from staging.load_runs"
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(runs)
        assert cursor.fetchone() == (2, 1)  # the second load is on the Data health page too
    conn.close()


def test_the_demo_says_when_the_build_changed_the_marts_though_nothing_arrived(
    warehouse_db: str, raw_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--events", "50", "--days", "1", "--start", "2026-03-02", "--seed", "4"]
    assert demo.main(arguments) == 0
    capsys.readouterr()
    with connect() as conn, conn.cursor() as cursor:  # as if a build had been interrupted
        cursor.execute("delete from public.fct_funnel_daily")
    conn.close()

    assert demo.main(arguments) == 0
    second = capsys.readouterr().out
    assert "objects already loaded, but the build changed fct_funnel_daily\n" in second


def test_marts_built_by_an_earlier_version_of_the_models_are_rebuilt_and_said_so(
    warehouse_db: str, raw_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--events", "50", "--days", "1", "--start", "2026-03-02", "--seed", "4"]
    assert demo.main(arguments) == 0
    first = capsys.readouterr().out
    with connect() as conn, conn.cursor() as cursor:  # as built before the column was added
        cursor.execute("alter table public.fct_product_performance_daily drop column currency")
    conn.close()

    assert demo.main(arguments) == 0
    second = capsys.readouterr().out
    assert (
        "fct_product_performance_daily: built by an earlier version of the models; rebuilding"
        " every mart from the raw lines (dbt build --full-refresh)\n"
    ) in second
    assert second.split("== the marts")[1] == first.split("== the marts")[1]


def test_a_run_on_a_later_day_adds_that_day(
    warehouse_db: str, raw_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same seed on another date makes traffic with ids of its own: nothing is a repeat.
    earlier = ["--events", "40", "--days", "1", "--start", "2026-03-02", "--seed", "5"]
    assert demo.main(earlier) == 0
    first_day_sessions = int(_one("select count(*) from public.fct_sessions"))
    capsys.readouterr()

    assert demo.main([*earlier[:5], "2026-03-09", *earlier[6:]]) == 0
    later = capsys.readouterr().out
    later_day_sessions = int(
        _one("select count(*) from public.fct_sessions where session_date = '2026-03-09'")
    )
    assert later_day_sessions > 0
    # the same draws: as many sessions as the first day, none of them a repeat
    assert later_day_sessions == first_day_sessions
    assert (
        f"sessions: {later_day_sessions} generated, {later_day_sessions} in the funnel\n" in later
    )
    assert int(_one("select count(*) from public.fct_sessions")) == 2 * first_day_sessions


def test_the_demo_prints_channel_and_retention_figures_read_from_the_marts(
    warehouse_db: str, raw_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two weeks and a day from a Monday: the first cohort's week 1 (9 to 15 March) is whole,
    # the second's is in progress on the last day, 16 March.
    arguments = ["--events", "2000", "--days", "15", "--start", "2026-03-02", "--seed", "8"]
    assert demo.main(arguments) == 0
    out = capsys.readouterr().out.split("== the marts")[1]
    events = dbt_support.expected_events(dbt_support.raw_lines()).events

    # New and returning users, worked out in Python from the raw lines.
    users_daily = dbt_support.expected_users_daily(events).values()
    new, returning = sum(day[1] for day in users_daily), sum(day[2] for day in users_daily)
    assert f" {new:,} new, {returning:,} returning (summed over the days);" in out
    # The cohorts' week-1 retention: only the first cohort's week 1 is whole.
    retention = dbt_support.expected_retention(events)
    first, second = date(2026, 3, 2), date(2026, 3, 9)
    users, active = retention[(first, 1)][:2]
    assert 0 < active < users
    assert (
        f"Week-1 retention: {100 * active / users:.1f}% ({active:,} of the {users:,} users of"
        " the 1 cohort(s) whose week 1 is complete)"
    ) in out
    cohort_table = out.split("Weekly cohorts")[1].split("Week-1 retention")[0]
    cohort_lines = [line.split() for line in cohort_table.splitlines() if "2026-03-" in line]
    assert [line[:3] for line in cohort_lines] == [
        ["2026-03-02", f"{retention[(first, 0)][0]:,}", "100.0%"],
        ["2026-03-09", f"{retention[(second, 0)][0]:,}", "100.0%"],
        ["2026-03-16", f"{retention[(date(2026, 3, 16), 0)][0]:,}", "100.0%*"],
    ]
    assert cohort_lines[0][4] == f"{100 * retention[(first, 2)][1] / users:.1f}%*"
    print(out)  # shown when the test fails: what `make demo` prints


def _read_all(descriptor: int, chunks: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(descriptor, 65536)
        except OSError:  # the terminal closed: the process has ended
            return
        if not chunk:
            return
        chunks.append(chunk)


def test_the_demo_shows_progress_bars_on_a_terminal_only(
    warehouse_db: str, raw_bucket: str
) -> None:
    # stderr on a pseudo-terminal nobody sized (0 x 0, as under `script`), stdout on a pipe.
    terminal, terminal_end = pty.openpty()
    chunks: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(terminal, chunks))
    reader.start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "devtools.demo", "--events", "60", "--start", "2026-03-02"],
            stdout=subprocess.PIPE,
            stderr=terminal_end,
            cwd=PROJECT_ROOT,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        os.close(terminal_end)
        reader.join(timeout=10)
        os.close(terminal)
    bars = b"".join(chunks).decode("utf-8", "replace")
    assert result.returncode == 0, bars
    assert "sending:" in bars
    assert "/60 [" in bars  # the traffic bar knows its total: the events to send
    assert "loading:" in bars
    assert "\r" not in result.stdout
    assert "sending:" not in result.stdout


def test_demo_refuses_bad_arguments_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--events", "-1"]) == 2
    assert capsys.readouterr().err == "error: --events must be >= 0 and --days >= 1\n"
