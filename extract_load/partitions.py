"""The day partitions of staging.raw_events (docs/extract_load.md, "Retention").

staging.raw_events is partitioned by range on `loaded_at`, one partition per UTC day, named
`staging.raw_events_YYYYMMDD`. The loader creates the day of its transaction's `now()` before
it writes a line (`ensure_day_partition`), in a transaction of its own: creating a partition
locks the parent table, which must not happen in a batch that already holds rows.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from psycopg2.extensions import connection, cursor

# The same lock as ensure_schema: partitions are created one process at a time.
PARTITION_LOCK_KEY = 0x636C6B73  # "clks"

PARENT = "staging.raw_events"
DEFAULT_PARTITION = "staging.raw_events_default"
_NAME_PATTERN = re.compile(r"^raw_events_(\d{8})$")


def partition_name(day: date) -> str:
    """The partition's name without its schema (raw_events_20261202)."""
    return f"raw_events_{day:%Y%m%d}"


def partition_day(name: str) -> date | None:
    """The day of a partition named by `partition_name`; None for any other table."""
    match = _NAME_PATTERN.match(name)
    return datetime.strptime(match.group(1), "%Y%m%d").date() if match else None


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a UTC day, as aware datetimes."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def create_day_partition(cur: cursor, day: date) -> bool:
    """Create the day's partition unless it exists (the caller holds PARTITION_LOCK_KEY in
    its transaction). Rows of that day in the default partition move into it. True when it
    was created.

    The table is created on its own, filled from the default partition, then attached: ATTACH
    needs a lighter lock on raw_events than CREATE TABLE ... PARTITION OF (readers and
    loaders go on), and it creates the partition's indexes from raw_events' ones."""
    name = partition_name(day)
    cur.execute("select to_regclass(%s) is not null", (f"staging.{name}",))
    row = cur.fetchone()
    if row and row[0]:
        return False
    start, end = day_bounds(day)
    cur.execute(f"create table staging.{name} (like {PARENT} including defaults)")
    cur.execute(
        f"with moved as (delete from {DEFAULT_PARTITION}"
        "  where loaded_at >= %(start)s and loaded_at < %(end)s returning *)"
        f" insert into staging.{name} (payload, s3_key, line_number, loaded_at, load_id)"
        " select payload, s3_key, line_number, loaded_at, load_id from moved",
        {"start": start, "end": end},
    )
    # The constraint spares ATTACH a scan of the new table to check its rows' days.
    cur.execute(
        f"alter table staging.{name} add constraint {name}_day"
        " check (loaded_at is not null and loaded_at >= %(start)s and loaded_at < %(end)s)",
        {"start": start, "end": end},
    )
    cur.execute(
        f"alter table {PARENT} attach partition staging.{name}"
        " for values from (%(start)s) to (%(end)s)",
        {"start": start, "end": end},
    )
    cur.execute(f"alter table staging.{name} drop constraint {name}_day")
    return True


def ensure_day_partition(conn: connection, day: date) -> None:
    """Make sure the day's partition exists, in a transaction of its own (committed here).
    Safe with concurrent loaders: they wait for each other on the lock, the second finds it."""
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (PARTITION_LOCK_KEY,))
        create_day_partition(cur, day)
    conn.commit()


def day_partitions(cur: cursor) -> dict[date, str]:
    """The day partitions of raw_events that exist, by day (the default one left out)."""
    cur.execute(
        "select child.relname from pg_inherits"
        " join pg_class as child on child.oid = pg_inherits.inhrelid"
        " where pg_inherits.inhparent = to_regclass(%s)",
        (PARENT,),
    )
    days = {}
    for (name,) in cur.fetchall():
        day = partition_day(name)
        if day is not None:
            days[day] = name
    return days


class DayPartitions:
    """The days this loader knows to have a partition: one query per batch to learn its
    transaction's day, a partition created only the first time a day is seen."""

    def __init__(self) -> None:
        self.known: set[date] = set()

    def ready_for_this_transaction(self, conn: connection) -> bool:
        """True when the open transaction's day (UTC, of its now(), which becomes the lines'
        loaded_at) has its partition. Else the transaction (which has written nothing yet)
        is rolled back, the partition created, and False: start the batch again."""
        with conn.cursor() as cur:
            cur.execute("select (now() at time zone 'UTC')::date")
            row = cur.fetchone()
        assert row is not None
        day: date = row[0]
        if day in self.known:
            return True
        conn.rollback()
        ensure_day_partition(conn, day)
        self.known.add(day)
        return False
