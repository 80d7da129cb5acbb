"""Creates the loader-owned `staging` schema (idempotent)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from psycopg2.extensions import connection, cursor

from clickstream.errors import TerminalError
from extract_load.partitions import PARTITION_LOCK_KEY, create_day_partition
from extract_load.user_agents import parse_missing_user_agents

SCHEMA_SQL = Path(__file__).with_name("schema.sql")

# Two processes creating the schema at once would race on the catalog; serialise them.
_SCHEMA_LOCK_KEY = PARTITION_LOCK_KEY

# Where an unpartitioned raw_events (a warehouse built before partitioning) waits while its
# lines are copied into the partitioned one, within the same transaction.
LEGACY_RAW_EVENTS = "raw_events_unpartitioned"

# Adds one batch's objects and lines to its run's row (in the batch's own transaction).
ADD_TO_LOAD_RUN_SQL = """
insert into staging.load_runs as runs
    (load_id, first_loaded_at, loaded_at, objects, lines_loaded, lines_rejected)
values (%(load_id)s, now(), now(), %(objects)s, %(lines_loaded)s, %(lines_rejected)s)
on conflict (load_id) do update set
    loaded_at = excluded.loaded_at,
    objects = runs.objects + excluded.objects,
    lines_loaded = runs.lines_loaded + excluded.lines_loaded,
    lines_rejected = runs.lines_rejected + excluded.lines_rejected
"""


def ensure_schema(conn: connection, on_step: Callable[[str], None] | None = None) -> None:
    """Create what is missing, migrate an unpartitioned raw_events, and make sure today's and
    tomorrow's partitions exist. One transaction: killed midway, nothing of it remains, and
    the next run starts it again. `on_step` is told each migration step (for tests)."""
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
        cur.execute("select to_regclass('staging.load_runs') is null")
        row = cur.fetchone()
        load_runs_is_new = bool(row and row[0])
        cur.execute("select to_regclass('staging.user_agents') is null")
        row = cur.fetchone()
        user_agents_is_new = bool(row and row[0])
        legacy = _set_aside_unpartitioned_raw_events(cur)
        cur.execute(SCHEMA_SQL.read_text())
        if legacy:
            _migrate_raw_events(cur, on_step or (lambda step: None))
        if load_runs_is_new:
            rebuild_load_runs(cur)
        if user_agents_is_new:
            # a warehouse loaded before the table existed: its agents, parsed once
            parse_missing_user_agents(cur)
        cur.execute("select (now() at time zone 'UTC')::date")
        (today,) = cur.fetchone()  # type: ignore[misc]
        for day in (today, today + timedelta(days=1)):
            create_day_partition(cur, day)
    conn.commit()


def _set_aside_unpartitioned_raw_events(cur: cursor) -> bool:
    """Rename an unpartitioned raw_events (and its index, whose name the partitioned table
    takes) out of the way; True when there was one."""
    cur.execute("select relkind from pg_class where oid = to_regclass('staging.raw_events')")
    row = cur.fetchone()
    if row is None or row[0] != "r":  # absent, or partitioned ('p') already
        return False
    cur.execute(f"alter table staging.raw_events rename to {LEGACY_RAW_EVENTS}")
    cur.execute(
        "alter index if exists staging.raw_events_loaded_at_idx"
        f" rename to {LEGACY_RAW_EVENTS}_loaded_at_idx"
    )
    return True


def _migrate_raw_events(cur: cursor, on_step: Callable[[str], None]) -> None:
    """Copy every line of the set-aside table into the partitioned one (a partition per day
    it holds first), check the count, drop the old table."""
    cur.execute(
        f"select distinct (loaded_at at time zone 'UTC')::date from staging.{LEGACY_RAW_EVENTS}"
    )
    days: list[date] = sorted(row[0] for row in cur.fetchall())
    for day in days:
        create_day_partition(cur, day)
    on_step("partitions created")
    cur.execute(
        "insert into staging.raw_events (payload, s3_key, line_number, loaded_at, load_id)"
        f" select payload, s3_key, line_number, loaded_at, load_id"
        f" from staging.{LEGACY_RAW_EVENTS}"
    )
    copied = cur.rowcount
    on_step("lines copied")
    cur.execute(f"select count(*) from staging.{LEGACY_RAW_EVENTS}")
    (legacy_lines,) = cur.fetchone()  # type: ignore[misc]
    if copied != legacy_lines:  # cannot happen in one transaction; never drop lines unseen
        raise TerminalError(
            f"raw_events migration copied {copied} lines of {legacy_lines}: nothing changed"
        )
    cur.execute(f"drop table staging.{LEGACY_RAW_EVENTS}")
    on_step("old table dropped")


def rebuild_load_runs(cur: cursor) -> None:
    """Recompute staging.load_runs from the manifest (for a warehouse loaded before the
    table existed, or after rows were written to the manifest by hand).

    The rows of runs that loaded no object (objects = 0) are kept as they are: the manifest
    has no trace of them to rebuild them from, and nothing of theirs can be out of step with
    it. Every other run is recomputed, and a run none of whose objects is left in the manifest
    (they were deleted to be loaded again) disappears."""
    cur.execute("delete from staging.load_runs where objects > 0")
    cur.execute(
        """
        insert into staging.load_runs
            (load_id, first_loaded_at, loaded_at, objects, lines_loaded, lines_rejected)
        select load_id, min(loaded_at), max(loaded_at), count(*),
               sum(lines_loaded), sum(lines_rejected)
        from staging.load_manifest
        group by load_id
        on conflict (load_id) do update set
            first_loaded_at = excluded.first_loaded_at,
            loaded_at = excluded.loaded_at,
            objects = excluded.objects,
            lines_loaded = excluded.lines_loaded,
            lines_rejected = excluded.lines_rejected
        """
    )


def latest_load(conn: connection) -> datetime | None:
    """The newest `loaded_at` of an object that added lines; None before the first load.
    What freshness alerts measure: the host's MinutesSinceLastLoad, `make hourly`'s stale."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass('staging.load_manifest') is not null")
        row = cur.fetchone()
        if row is None or not row[0]:
            return None
        cur.execute("select max(loaded_at) from staging.load_manifest where lines_loaded > 0")
        row = cur.fetchone()
    return row[0] if row else None
