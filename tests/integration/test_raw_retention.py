"""staging.raw_events partitioned by load day, against the real PostgreSQL and S3: the loader
writes into day partitions with their indexes, an unpartitioned table is migrated without
losing a line (even when killed midway), and the retention drops only the days every mart
has built and tested, the reconciliation still passing afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg2
import pytest

from clickstream.config import PROJECT_ROOT
from clickstream.storage import s3_client
from clickstream.warehouse import connect
from devtools.traffic import generate_requests, write_requests_to_s3
from extract_load.loader import load_new_objects
from extract_load.partitions import create_day_partition, partition_name
from extract_load.retention import prune_raw_events
from extract_load.schema import ensure_schema
from tests.integration.dbt_support import dbt, dbt_result, execute, query

DAY = date(2026, 3, 2)

# raw_events as every warehouse built before partitioning has it (schema.sql of that time).
UNPARTITIONED_RAW_EVENTS = """
create schema if not exists staging;
create table staging.raw_events (
    payload jsonb not null,
    s3_key text not null,
    line_number integer not null,
    loaded_at timestamptz not null default now(),
    load_id uuid not null
);
create index raw_events_loaded_at_idx on staging.raw_events using brin (loaded_at);
"""


def _today() -> date:
    return datetime.now(UTC).date()


def _relkind(name: str) -> str | None:
    rows = query("select relkind from pg_class where oid = to_regclass(%s)", name)
    return rows[0][0] if rows else None


def _partitions_with_brin() -> dict[str, bool]:
    """Each partition of raw_events, and whether it has a BRIN index on loaded_at."""
    rows = query(
        "select child.relname, exists (select 1 from pg_indexes where schemaname = 'staging'"
        "   and tablename = child.relname and indexdef like '%%USING brin (loaded_at)%%')"
        " from pg_inherits join pg_class as child on child.oid = pg_inherits.inhrelid"
        " where pg_inherits.inhparent = 'staging.raw_events'::regclass"
    )
    return dict(rows)


def _all_lines() -> list[tuple[Any, ...]]:
    return query(
        "select s3_key, line_number, loaded_at, load_id::text, payload::text"
        " from staging.raw_events order by s3_key, line_number"
    )


def _insert_lines(day: date, count: int) -> None:
    """`count` raw lines loaded at noon of `day` (UTC)."""
    loaded_at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    execute(
        "insert into staging.raw_events (payload, s3_key, line_number, loaded_at, load_id)"
        " select jsonb_build_object('event_id', gen_random_uuid()), %s, n, %s,"
        "   gen_random_uuid()"
        " from generate_series(1, %s) as n",
        f"events/{day:%Y/%m/%d}/12/events-test.json",
        loaded_at,
        count,
    )


def test_the_loader_writes_into_the_day_partition_of_its_transaction(
    warehouse_db: str, raw_bucket: str
) -> None:
    write_requests_to_s3(generate_requests(300, 1, DAY, seed=3), raw_bucket, "events/", s3_client())
    summary = load_new_objects()

    today = partition_name(_today())
    where = query("select tableoid::regclass::text, count(*) from staging.raw_events group by 1")
    assert where == [(f"staging.{today}", summary.lines_loaded)]
    partitions = _partitions_with_brin()
    assert partitions[today] is True
    assert partitions[partition_name(_today() + timedelta(days=1))] is True  # made ahead
    assert partitions["raw_events_default"] is True
    assert _relkind("staging.raw_events") == "p"


def test_a_row_written_by_hand_for_a_day_without_partition_moves_into_it_when_made(
    warehouse_db: str,
) -> None:
    conn = connect()
    ensure_schema(conn)
    conn.close()
    old_day = _today() - timedelta(days=40)
    _insert_lines(old_day, 3)
    assert query("select tableoid::regclass::text from staging.raw_events limit 1") == [
        ("staging.raw_events_default",)
    ]
    conn = connect()
    with conn.cursor() as cursor:
        assert create_day_partition(cursor, old_day) is True
        assert create_day_partition(cursor, old_day) is False  # idempotent
    conn.commit()
    conn.close()
    assert query(
        "select tableoid::regclass::text, count(*) from staging.raw_events group by 1"
    ) == [(f"staging.{partition_name(old_day)}", 3)]
    assert _partitions_with_brin()[partition_name(old_day)] is True


def test_an_unpartitioned_table_is_migrated_once_without_losing_a_line_even_if_killed(
    warehouse_db: str, raw_bucket: str
) -> None:
    execute(UNPARTITIONED_RAW_EVENTS)
    for days_ago, count in ((30, 50), (2, 70), (0, 20)):
        _insert_lines(_today() - timedelta(days=days_ago), count)
    before = _all_lines()
    assert len(before) == 140

    # Killed midway: the server ends the migrating session once the lines are copied.
    migrating = connect()
    killer = connect()
    killer.autocommit = True

    def kill_after_copy(step: str) -> None:
        if step == "lines copied":
            with killer.cursor() as cursor:
                cursor.execute("select pg_terminate_backend(%s)", (migrating.get_backend_pid(),))

    with pytest.raises(psycopg2.Error):
        ensure_schema(migrating, on_step=kill_after_copy)
    killer.close()
    migrating.close()
    assert _relkind("staging.raw_events") == "r"  # nothing of the migration remains
    assert _relkind("staging.raw_events_unpartitioned") is None
    assert _all_lines() == before

    conn = connect()
    ensure_schema(conn)
    ensure_schema(conn)  # a second time changes nothing
    conn.close()
    assert _relkind("staging.raw_events") == "p"
    assert _relkind("staging.raw_events_unpartitioned") is None
    assert _all_lines() == before
    partitions = _partitions_with_brin()
    for days_ago in (30, 2, 0):
        assert partitions[partition_name(_today() - timedelta(days=days_ago))] is True
    assert query("select count(*) from staging.raw_events_default") == [(0,)]

    # The loader goes on on top of it.
    write_requests_to_s3(generate_requests(100, 1, DAY, seed=4), raw_bucket, "events/", s3_client())
    summary = load_new_objects()
    assert query("select count(*) from staging.raw_events") == [(140 + summary.lines_loaded,)]


def _record_tests_passed(**passed_through: datetime) -> None:
    execute(
        "create schema if not exists dbt_intermediate;"
        " create table if not exists dbt_intermediate.tests_passed_through"
        " (relation_name text primary key, loaded_at timestamptz not null)"
    )
    for name, loaded_at in passed_through.items():
        execute(
            "insert into dbt_intermediate.tests_passed_through values (%s, %s)", name, loaded_at
        )


def test_prune_drops_only_old_days_that_every_mart_has_built_and_tested(
    warehouse_db: str,
) -> None:
    conn = connect()
    ensure_schema(conn)
    today = _today()
    days = {days_ago: today - timedelta(days=days_ago) for days_ago in (20, 10, 5, 1)}
    with conn.cursor() as cursor:
        for day in days.values():
            create_day_partition(cursor, day)
    conn.commit()
    conn.close()
    for days_ago, day in days.items():
        _insert_lines(day, days_ago)

    unset = prune_raw_events(None)
    assert unset.dropped == []
    assert "retention not set" in unset.one_line()
    no_build = prune_raw_events(3)  # no dbt build has passed: nothing is dropped
    assert no_build.dropped == []
    assert no_build.kept_for_marts == [
        days[20].isoformat(),
        days[10].isoformat(),
        days[5].isoformat(),
    ]

    # One mart has passed its tests through 8 days ago only: day -10 is old enough and
    # built; day -5 is past the retention but newer than what that mart has passed.
    noon = datetime(today.year, today.month, today.day, 12, tzinfo=UTC)
    _record_tests_passed(
        clickstream_events=noon - timedelta(days=1), fct_sessions=noon - timedelta(days=8)
    )
    dry = prune_raw_events(3, dry_run=True)
    assert dry.dropped == [(days[20].isoformat(), 20), (days[10].isoformat(), 10)]
    assert query("select count(*) from staging.raw_events") == [(36,)]

    pruned = prune_raw_events(3)
    assert pruned.dropped == [(days[20].isoformat(), 20), (days[10].isoformat(), 10)]
    assert pruned.kept_for_marts == [days[5].isoformat()]
    assert pruned.held_back_by == "fct_sessions"
    assert "kept 1 older day(s) the marts have not built and tested yet" in pruned.one_line()
    assert query("select count(*) from staging.raw_events") == [(6,)]
    assert query("select load_day, lines from staging.raw_events_dropped_days order by 1") == [
        (days[20], 20),
        (days[10], 10),
    ]
    assert partition_name(days[10]) not in _partitions_with_brin()

    again = prune_raw_events(3)  # re-runnable: nothing more to drop
    assert again.dropped == []
    assert query("select count(*) from staging.raw_events") == [(6,)]


@pytest.mark.slow
def test_the_reconciliation_passes_after_a_prune_and_the_marts_keep_their_rows(
    warehouse_db: str, raw_bucket: str
) -> None:
    old_day = _today() - timedelta(days=10)
    prefix = "events/"
    write_requests_to_s3(generate_requests(300, 1, DAY, seed=11), raw_bucket, prefix, s3_client())
    load_new_objects(datetime(2026, 1, 1, tzinfo=UTC))
    # As if that load had run 10 days ago, in its own partition.
    execute("update staging.raw_events set loaded_at = loaded_at - interval '10 days'")
    conn = connect()
    with conn.cursor() as cursor:
        create_day_partition(cursor, old_day)
    conn.commit()
    conn.close()
    old_lines = query("select count(*) from staging.raw_events")[0][0]
    assert query(f"select count(*) from staging.{partition_name(old_day)}") == [(old_lines,)]
    write_requests_to_s3(
        generate_requests(300, 1, DAY + timedelta(days=1), seed=12), raw_bucket, prefix, s3_client()
    )
    load_new_objects(datetime(2026, 1, 1, tzinfo=UTC))
    dbt("build")
    kept_before = query("select count(*) from public.clickstream_events")

    pruned = prune_raw_events(3)

    assert pruned.dropped == [(old_day.isoformat(), old_lines)], json.dumps(pruned.as_dict())
    assert query("select count(*) from staging.raw_events")[0][0] > 0
    assert query("select count(*) from public.clickstream_events") == kept_before
    dbt("build")
    result = dbt_result("test", "--vars", "{full_checks: true}")
    failed = [item.node.name for item in result.result or [] if item.status in ("fail", "error")]
    assert failed == []
    assert query("select count(*) from public.clickstream_events") == kept_before


def test_prune_reads_raw_retention_days_and_refuses_a_bad_one_in_one_line(
    warehouse_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAW_RETENTION_DAYS", "7")
    assert prune_raw_events().retention_days == 7
    monkeypatch.setenv("RAW_RETENTION_DAYS", "a week")
    result = subprocess.run(
        [sys.executable, "-m", "extract_load", "prune"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "error: RAW_RETENTION_DAYS must be a whole number of days >= 1 (or unset), got 'a week'\n"
    )
