"""Remove raw lines and leave the marts ready for the next incremental dbt run to make them
exactly what a clean build of the remaining raw lines would be ("forget and re-touch").

Used by erasure (`clickstream.privacy`) and replay (`extract_load load --replay`), in the
caller's transaction. The marts are incremental: a run recomputes, from all their events,
the keys (sessions, days, hours, products, (day, product) pairs, funnel dates) touched by the
raw lines loaded since its window start (dbt_project/macros/README.md). Removing lines breaks
that in two ways: a key may lose events without any new line touching it, and a key may lose
all its events, which delete+insert never deletes. So, in one transaction:

1. the *gone events*: the rows of clickstream_events whose kept copy is a removed line, and
   the keys they belong to;
2. the rows of those keys are deleted from every mart (a key left with no event stays
   deleted), and the removed lines' rows from invalid_events and from the classified lines
   (dbt_intermediate.int_events_classified, the table every mart is built from);
3. one *representative* event of each touched key that still has events is taken out of
   clickstream_events and its raw line's `loaded_at` set to now(), and so is every remaining
   valid copy of a gone event (a retry in another object becomes the kept copy);
4. the removed lines are deleted from staging.raw_events.

The next `dbt build` sees the re-touched lines as just loaded: clickstream_events inserts
them again, and every mart recomputes exactly the keys they belong to, from all their events.
No model changes and no normal run reads more than it did. The raw line and its event carry
the same new `loaded_at`, so a full refresh gives the same rows as the incremental run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg2 import sql

MARTS_SCHEMA = "public"  # the dbt profile's target schema (profiles/profiles.yml)
# The raw lines as dbt classified them, one row per line (dbt_project/models/intermediate).
CLASSIFIED_LINES = "dbt_intermediate.int_events_classified"

# Each mart and how its rows of the touched keys are found, in the temporary tables below.
DELETE_TOUCHED_ROWS = {
    "fct_sessions": "session_id in (select session_id from gone_events)",
    "fct_funnel_daily": "session_date in (select session_date from touched_funnel_dates)",
    "fct_activity_daily": "event_date in (select event_date from gone_events)",
    "fct_activity_hourly": "event_hour in (select event_hour from gone_events)",
    "dim_products": "product_id in (select product_id from gone_events)",
    "fct_product_performance_daily": (
        "(event_date, product_id) in (select event_date, product_id from gone_events)"
    ),
}

# One event per touched key that still has events (the smallest event_id: deterministic).
_REPRESENTATIVES_SQL = """
create temporary table representatives on commit drop as
select events.event_id, events.s3_key, events.line_number, events.loaded_at
from {marts}.clickstream_events as events
where events.event_id in (
    select min(event_id) from {marts}.clickstream_events
    where session_id in (select session_id from gone_events)
    group by session_id
    union
    select min(event_id) from {marts}.clickstream_events
    where event_date in (select event_date from gone_events)
    group by event_date
    union
    select min(events.event_id)
    from {marts}.clickstream_events as events
    inner join (select distinct event_hour from gone_events) as hours
        on events.event_timestamp >= hours.event_hour
        and events.event_timestamp < hours.event_hour + interval '1 hour'
    group by hours.event_hour
    union
    select min(event_id) from {marts}.clickstream_events
    where context_product_id in (select product_id from gone_events)
    group by context_product_id
    union
    select min(event_id) from {marts}.clickstream_events
    where (event_date, context_product_id) in (
        select event_date, product_id from gone_events
    )
    group by event_date, context_product_id
    {funnel_dates}
)
"""

# ... and one session still starting on each touched funnel date (when fct_sessions exists).
_FUNNEL_REPRESENTATIVES_SQL = """
    union
    select min(event_id) from {marts}.clickstream_events
    where session_id in (
        select min(session_id) from {marts}.fct_sessions
        where session_date in (select session_date from touched_funnel_dates)
        group by session_date
    )
    group by session_id
"""


@dataclass
class RemovalCounts:
    """What a removal deleted, per table (no personal data: counts only)."""

    raw_lines: int = 0
    rows_deleted: dict[str, int] = field(default_factory=dict)
    lines_retouched: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "raw_events": self.raw_lines,
            **self.rows_deleted,
            "raw_lines_retouched": self.lines_retouched,
        }


def _exists(cursor: Any, table: str) -> bool:
    cursor.execute("select to_regclass(%s) is not null", (table,))
    return bool(cursor.fetchone()[0])


def _execute(cursor: Any, statement: str | sql.Composable, params: Any = None) -> int:
    cursor.execute(statement, params)
    return int(cursor.rowcount)


def remove_raw_lines(
    cursor: Any,
    condition: sql.Composable,
    params: Any = None,
    *,
    events_condition: sql.Composable | None = None,
) -> RemovalCounts:
    """Delete the raw lines of staging.raw_events that match `condition` (SQL over the
    table's columns, `payload` included) and prepare every mart for the next incremental dbt
    run (module doc). `events_condition` (SQL over clickstream_events' columns) also names
    events to forget whose raw lines may be gone already (dropped by raw retention); the
    rows of invalid_events whose `payload` matches `condition` go too. Runs in the caller's
    transaction: commit it, or roll it back, as a whole."""
    counts = RemovalCounts()
    cursor.execute(
        sql.SQL(
            "create temporary table removed_lines on commit drop as"
            " select s3_key, line_number, loaded_at, lower(payload->>'event_id') as event_id"
            " from staging.raw_events where {}"
        ).format(condition),
        params,
    )
    marts = {
        name
        for name in ("clickstream_events", "invalid_events", "fct_sessions", *DELETE_TOUCHED_ROWS)
        if _exists(cursor, f"{MARTS_SCHEMA}.{name}")
    }
    schema = sql.Identifier(MARTS_SCHEMA)
    if "invalid_events" in marts:
        counts.rows_deleted["invalid_events"] = _execute(
            cursor,
            sql.SQL(
                "delete from {}.invalid_events as kept using removed_lines as removed"
                " where kept.s3_key = removed.s3_key and kept.line_number = removed.line_number"
            ).format(schema),
        )
        if events_condition is not None:
            counts.rows_deleted["invalid_events"] += _execute(
                cursor,
                sql.SQL("delete from {}.invalid_events where {}").format(schema, condition),
                params,
            )
    if _exists(cursor, CLASSIFIED_LINES):
        counts.rows_deleted["int_events_classified"] = _forget_classified_lines(
            cursor, condition, params, events_condition
        )
    if "clickstream_events" in marts:
        _forget_events(cursor, marts, counts, events_condition, params)
    counts.raw_lines = _execute(
        cursor,
        "delete from staging.raw_events as raw using removed_lines as removed"
        " where raw.s3_key = removed.s3_key and raw.line_number = removed.line_number"
        " and raw.loaded_at = removed.loaded_at",
    )
    if "clickstream_events" in marts:
        counts.lines_retouched += _retouch_surviving_copies(cursor, marts)
    return counts


def _forget_classified_lines(
    cursor: Any,
    condition: sql.Composable,
    params: Any,
    events_condition: sql.Composable | None,
) -> int:
    """The removed lines' rows of the classified lines. With `events_condition` (erasure),
    also the rows of lines retention dropped already: valid ones by their columns, invalid
    ones (whose payload the table keeps) by `condition`."""
    deleted = _execute(
        cursor,
        sql.SQL(
            "delete from {} as classified using removed_lines as removed"
            " where classified.s3_key = removed.s3_key"
            " and classified.line_number = removed.line_number"
        ).format(sql.SQL(CLASSIFIED_LINES)),
    )
    if events_condition is not None:
        deleted += _execute(
            cursor,
            sql.SQL("delete from {} as kept where {} or (payload is not null and {})").format(
                sql.SQL(CLASSIFIED_LINES), events_condition, condition
            ),
            params,
        )
    return deleted


def _forget_events(
    cursor: Any,
    marts: set[str],
    counts: RemovalCounts,
    events_condition: sql.Composable | None,
    params: Any,
) -> None:
    """Steps 1 to 3 of the module doc (the surviving copies wait for the raw delete)."""
    schema = sql.Identifier(MARTS_SCHEMA)
    columns = sql.SQL(
        "select kept.event_id, kept.session_id, kept.event_date,"
        " date_trunc('hour', kept.event_timestamp, 'UTC') as event_hour,"
        " kept.context_product_id as product_id"
        " from {}.clickstream_events as kept"
    ).format(schema)
    gone = sql.SQL("create temporary table gone_events on commit drop as {} {}").format(
        columns,
        sql.SQL(
            "inner join removed_lines as removed on kept.event_id = removed.event_id"
            " and kept.s3_key = removed.s3_key and kept.line_number = removed.line_number"
        ),
    )
    if events_condition is not None:
        gone += sql.SQL(" union {} where {}").format(columns, events_condition)
    cursor.execute(gone, params if events_condition is not None else None)
    # A session's funnel date is the date of its first event: every date any event of a
    # touched session falls on may gain or lose it (the model recomputes the same dates).
    funnel_dates: sql.Composable = sql.SQL(
        "create temporary table touched_funnel_dates on commit drop as"
        " select event_date as session_date from {schema}.clickstream_events"
        " where session_id in (select session_id from gone_events)"
    ).format(schema=schema)
    if "fct_sessions" in marts:
        funnel_dates += sql.SQL(
            " union select session_date from {schema}.fct_sessions"
            " where session_id in (select session_id from gone_events)"
        ).format(schema=schema)
    cursor.execute(funnel_dates)
    for mart, touched in DELETE_TOUCHED_ROWS.items():
        if mart in marts:
            counts.rows_deleted[mart] = _execute(
                cursor,
                sql.SQL("delete from {}.{} where ").format(schema, sql.Identifier(mart))
                + sql.SQL(touched),
            )
    counts.rows_deleted["clickstream_events"] = _execute(
        cursor,
        sql.SQL(
            "delete from {}.clickstream_events where event_id in (select event_id from gone_events)"
        ).format(schema),
    )
    funnel_part = (
        sql.SQL(_FUNNEL_REPRESENTATIVES_SQL).format(marts=schema)
        if "fct_sessions" in marts
        else sql.SQL("")
    )
    cursor.execute(sql.SQL(_REPRESENTATIVES_SQL).format(marts=schema, funnel_dates=funnel_part))
    cursor.execute(
        sql.SQL(
            "delete from {}.clickstream_events"
            " where event_id in (select event_id from representatives)"
        ).format(schema)
    )
    counts.lines_retouched += _execute(
        cursor,
        "update staging.raw_events as raw set loaded_at = now() from representatives as chosen"
        " where raw.s3_key = chosen.s3_key and raw.line_number = chosen.line_number"
        " and raw.loaded_at = chosen.loaded_at",
    )


def _retouch_surviving_copies(cursor: Any, marts: set[str]) -> int:
    """The remaining copies of the gone events (a retry in another object): the next run
    keeps the first received of them. Invalid ones are in invalid_events already."""
    not_invalid: sql.Composable = sql.SQL("")
    if "invalid_events" in marts:
        not_invalid = sql.SQL(
            " and not exists (select 1 from {}.invalid_events as invalid"
            " where invalid.s3_key = raw.s3_key and invalid.line_number = raw.line_number)"
        ).format(sql.Identifier(MARTS_SCHEMA))
    cursor.execute("select exists (select 1 from gone_events)")
    if not cursor.fetchone()[0]:
        return 0
    return _execute(
        cursor,
        sql.SQL(
            "update staging.raw_events as raw set loaded_at = now()"
            " where lower(raw.payload->>'event_id') in (select event_id from gone_events)"
            " and raw.loaded_at < now()"
        )
        + not_invalid,
    )
