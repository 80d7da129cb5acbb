"""Raw retention: drop whole day partitions of staging.raw_events (docs/extract_load.md,
"Retention").

A day partition is dropped only when both hold:
- it is older than the retention: its day is before today (UTC) minus RAW_RETENTION_DAYS;
- every mart has built and tested its lines: its day ends at least PRUNE_MARGIN before the
  oldest `dbt_intermediate.tests_passed_through` record (the newest watermark of each mart
  after the last `dbt build` that passed). A partition newer than what every mart has passed
  is never dropped; with no record at all (dbt never passed), nothing is.
Each drop records the day and its line count in staging.raw_events_dropped_days, in the same
transaction, so that the reconciliation test checks only the retained lines; dbt's classified
lines of that day (dbt_intermediate.int_events_classified) go in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import psycopg2
from psycopg2.extensions import connection

from clickstream.config import raw_retention_days
from clickstream.errors import TerminalError, WarehouseUnreachableError
from clickstream.raw_removal import CLASSIFIED_LINES
from clickstream.warehouse import connect
from extract_load.partitions import PARTITION_LOCK_KEY, day_bounds, day_partitions
from extract_load.schema import ensure_schema

log = logging.getLogger(__name__)

# More than dbt's loaded_at_lookback (1 hour by default, dbt_project.yml): a load that was
# still committing when the last build ran has lines up to a lookback older than its record.
PRUNE_MARGIN = timedelta(hours=6)
TESTS_PASSED_THROUGH = "dbt_intermediate.tests_passed_through"


@dataclass
class PruneSummary:
    retention_days: int | None
    dry_run: bool = False
    marts_passed_through: datetime | None = None  # the oldest mart record
    held_back_by: str | None = None  # the mart with that record
    dropped: list[tuple[str, int]] = field(default_factory=list)  # (day, lines)
    kept_for_marts: list[str] = field(default_factory=list)  # old enough, not passed yet

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["marts_passed_through"] = (
            self.marts_passed_through.isoformat() if self.marts_passed_through else None
        )
        return data

    def one_line(self) -> str:
        if self.retention_days is None:
            return "retention not set (RAW_RETENTION_DAYS or --days): no raw line dropped"
        verb = "would drop" if self.dry_run else "dropped"
        lines = sum(count for _, count in self.dropped)
        text = f"{verb} {len(self.dropped)} day partitions ({lines} raw lines)"
        if self.dropped:
            text += f" from {self.dropped[0][0]} to {self.dropped[-1][0]}"
        text += f", keeping {self.retention_days} days"
        if self.kept_for_marts:
            passed = (
                f"{self.held_back_by} has passed its tests through {self.marts_passed_through}"
                if self.marts_passed_through
                else "no dbt build has passed its tests yet"
            )
            text += (
                f"; kept {len(self.kept_for_marts)} older day(s) the marts have not built and"
                f" tested yet ({passed})"
            )
        return text


def marts_passed_through(conn: connection) -> tuple[datetime | None, str | None]:
    """The oldest record of dbt_intermediate.tests_passed_through and its mart; (None, None)
    when there is none (no build has passed, or dbt never ran here)."""
    with conn.cursor() as cursor:
        cursor.execute("select to_regclass(%s) is not null", (TESTS_PASSED_THROUGH,))
        row = cursor.fetchone()
        if not row or not row[0]:
            return None, None
        cursor.execute(
            f"select loaded_at, relation_name from {TESTS_PASSED_THROUGH}"
            " order by loaded_at, relation_name limit 1"
        )
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (None, None)


def prune_raw_events(
    retention_days: int | None = None,
    *,
    dry_run: bool = False,
    today: date | None = None,
) -> PruneSummary:
    """Drop the day partitions of raw_events that are past the retention and whose lines
    every mart has built and tested. Re-runnable: each partition goes in its own transaction
    with its record; a run killed midway leaves whole partitions, dropped or not."""
    if retention_days is None:
        retention_days = raw_retention_days()
    summary = PruneSummary(retention_days=retention_days, dry_run=dry_run)
    if retention_days is None:
        return summary
    if retention_days < 1:
        raise TerminalError(f"the retention must be at least 1 day, got {retention_days}")
    conn = connect()  # an unreachable warehouse: WarehouseUnreachableError, said plainly
    try:
        ensure_schema(conn)
        _prune(conn, summary, retention_days, today)
    except psycopg2.OperationalError as error:
        raise WarehouseUnreachableError(f"lost the warehouse: {error}") from error
    except psycopg2.Error as error:
        raise TerminalError(f"the warehouse refused the prune: {error}") from error
    finally:
        conn.close()
    return summary


def _prune(
    conn: connection, summary: PruneSummary, retention_days: int, today: date | None
) -> None:
    passed_through, mart = marts_passed_through(conn)
    summary.marts_passed_through, summary.held_back_by = passed_through, mart
    if today is None:
        with conn.cursor() as cursor:
            cursor.execute("select (now() at time zone 'UTC')::date")
            (today,) = cursor.fetchone()  # type: ignore[misc]
    conn.commit()
    assert today is not None
    first_day_kept = today - timedelta(days=retention_days)
    with conn.cursor() as cursor:
        partitions = day_partitions(cursor)
    conn.commit()
    for day in sorted(partitions):
        if day >= first_day_kept:
            continue
        _, day_end = day_bounds(day)
        if passed_through is None or day_end > passed_through - PRUNE_MARGIN:
            summary.kept_for_marts.append(day.isoformat())
            continue
        lines = _drop_day(conn, partitions[day], day, dry_run=summary.dry_run)
        summary.dropped.append((day.isoformat(), lines))
        log.info("raw_events: dropped %s (%d lines)", day, lines)


def _forget_classified_lines(cursor: Any, day: date) -> None:
    """dbt's one row per raw line (CLASSIFIED_LINES: every mart is built from it) goes with
    the day's raw lines: the retention applies to it too, and the marts keep their rows."""
    cursor.execute("select to_regclass(%s) is not null", (CLASSIFIED_LINES,))
    if cursor.fetchone()[0]:
        start, end = day_bounds(day)
        cursor.execute(
            f"delete from {CLASSIFIED_LINES} where loaded_at >= %s and loaded_at < %s",
            (start, end),
        )


def _drop_day(conn: connection, name: str, day: date, *, dry_run: bool) -> int:
    """Count the partition's lines, record the day, drop it: one transaction."""
    try:
        with conn.cursor() as cursor:
            cursor.execute("select pg_advisory_xact_lock(%s)", (PARTITION_LOCK_KEY,))
            cursor.execute(f"select count(*) from staging.{name}")
            (lines,) = cursor.fetchone()  # type: ignore[misc]
            if not dry_run:
                cursor.execute(
                    "insert into staging.raw_events_dropped_days (load_day, lines)"
                    " values (%s, %s)"
                    " on conflict (load_day) do update"
                    " set lines = raw_events_dropped_days.lines + excluded.lines,"
                    " dropped_at = excluded.dropped_at",
                    (day, lines),
                )
                cursor.execute(f"drop table staging.{name}")
                _forget_classified_lines(cursor, day)
        if dry_run:
            conn.rollback()
        else:
            conn.commit()
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    return int(lines)
