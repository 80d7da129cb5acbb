"""Remove raw lines and leave the marts ready for the next incremental dbt run to make them
exactly what a clean build of the remaining raw lines would be ("forget and re-touch").

Used by erasure (`clickstream.privacy`) and replay (`extract_load load --replay`), in the
caller's transaction. The marts are incremental: a run recomputes, from all their events,
the keys (sessions, days, hours, products, (day, product) pairs, funnel dates, and for the
users marts clients, users, orders, days and cohort weeks) touched by the raw lines loaded
since its window start (dbt_project/macros/README.md). Removing lines breaks
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
INTERMEDIATE_SCHEMA = "dbt_intermediate"  # dbt_project.yml's schema of the intermediate layer
# The raw lines as dbt classified them, one row per line (dbt_project/models/intermediate).
CLASSIFIED_LINES = f"{INTERMEDIATE_SCHEMA}.int_events_classified"

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
    # the users marts (_USERS_SQL): a gone client's user may change (its login gone)
    "dim_users": "user_key in (select user_key from touched_users)",
    "fct_orders": "order_id in (select order_id from touched_orders)",
    "fct_users_daily": "activity_date in (select activity_date from touched_user_dates)",
    "fct_retention_weekly": "cohort_week in (select cohort_week from touched_cohort_weeks)",
    # issue 11: page views are recomputed by session, traffic by session date (as the
    # funnel), bot traffic by event date (with a bot's event as the date's representative)
    "fct_page_views": "session_id in (select session_id from gone_events)",
    "fct_traffic_daily": "session_date in (select session_date from touched_funnel_dates)",
    "fct_bot_traffic_daily": "event_date in (select event_date from gone_events)",
}

# The incremental intermediate models, in INTERMEDIATE_SCHEMA, the same way.
DELETE_TOUCHED_INTERMEDIATE_ROWS = {
    "int_user_identity": "client_id in (select client_id from gone_clients)",
    "int_client_active_weeks": "client_id in (select client_id from gone_clients)",
}

# Stitching (int_user_identity) is per client and retroactive: a client that loses events
# may lose its login, and with it its user changes on every day, cohort and order of the
# client. So the users marts forget the rows of every user the gone clients had (and of the
# days and cohort weeks of those users' first visits, before and after, and all the gone
# clients' days and orders), and one event of each client of those users is re-touched
# (_REPRESENTATIVES_SQL), which makes the next run recompute them all
# (dbt_project/macros/identity.sql).
_USERS_SQL = """
create temporary table gone_clients on commit drop as
select distinct client_id from gone_events;
create temporary table touched_users on commit drop as
select 'anon:' || client_id as user_key from gone_clients
{identity_users};
create temporary table touched_user_clients on commit drop as
select client_id from gone_clients
{identity_clients};
create temporary table touched_user_dates on commit drop as
select distinct event_date as activity_date from {marts}.clickstream_events
where client_id in (select client_id from gone_clients)
{first_visit_dates}
{client_first_visit_dates};
create temporary table touched_cohort_weeks on commit drop as
select null::date as cohort_week where false
{first_visit_weeks}
{client_first_visit_weeks};
create temporary table touched_orders on commit drop as
select order_key as order_id from gone_events where order_key is not null
{client_orders};
"""

_IDENTITY_USERS_SQL = """
union select user_key from {intermediate}.int_user_identity
where client_id in (select client_id from gone_clients)"""

_IDENTITY_CLIENTS_SQL = """
union select client_id from {intermediate}.int_user_identity
where user_key in (select user_key from touched_users)"""

_FIRST_VISIT_DATES_SQL = """
union select (first_seen_at at time zone 'UTC')::date from {marts}.dim_users
where user_key in (select user_key from touched_users)"""

_FIRST_VISIT_WEEKS_SQL = """
union select date_trunc('week', first_seen_at at time zone 'UTC')::date from {marts}.dim_users
where user_key in (select user_key from touched_users)"""

# The first visits each of those users may have now (any client's left may be the first):
# the marts recompute a user's new first day or cohort only where it is named, as for a
# client whose own first visit moved (dbt_project/macros/identity.sql).
_CLIENT_FIRST_VISIT_DATES_SQL = """
union select (first_seen_at at time zone 'UTC')::date from {intermediate}.int_user_identity
where client_id in (select client_id from touched_user_clients)"""

_CLIENT_FIRST_VISIT_WEEKS_SQL = """
union select date_trunc('week', first_seen_at at time zone 'UTC')::date
from {intermediate}.int_user_identity
where client_id in (select client_id from touched_user_clients)"""

_CLIENT_ORDERS_SQL = """
union select order_id from {marts}.fct_orders
where client_id in (select client_id from gone_clients)"""

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
    {users}
    {bot_dates}
)
"""

# ... one event of each client of a touched user, of each touched day of the users marts and
# of each touched order, and one of a remaining user of each touched cohort week. The users
# marts read only the events counted_in_marts() counts (dbt_project/macros/consent.sql): the
# representative is one of those (no consent_update, page_ping or bot's event), a consented
# one when there is one (with var consented_data_only a denied event counts nowhere; without
# it, a key whose counted events are all denied still gets one).
_USERS_REPRESENTATIVE = (
    "(array_agg(event_id order by consent_state is not distinct from 'denied', event_id))[1]"
)
_USERS_COUNTED = "event_name not in ('consent_update', 'page_ping') and not coalesce(is_bot, false)"
_USERS_REPRESENTATIVES_SQL = f"""
    union
    select {_USERS_REPRESENTATIVE} from {{marts}}.clickstream_events
    where client_id in (select client_id from touched_user_clients) and {_USERS_COUNTED}
    group by client_id
    union
    select {_USERS_REPRESENTATIVE} from {{marts}}.clickstream_events
    where event_date in (select activity_date from touched_user_dates) and {_USERS_COUNTED}
    group by event_date
    union
    select {_USERS_REPRESENTATIVE} from {{marts}}.clickstream_events
    where event_name = 'purchase' and not coalesce(is_bot, false) and (
        order_id in (select order_id from touched_orders)
        or (order_id is null and 'session:' || session_id in (select order_id from touched_orders))
    )
    group by coalesce(order_id, 'session:' || session_id)
"""

# (dim_users and int_user_identity exist) one user left in each touched cohort week.
_COHORT_REPRESENTATIVES_SQL = f"""
    union
    select {_USERS_REPRESENTATIVE} from {{marts}}.clickstream_events
    where client_id in (
        select min(identity.client_id)
        from {{intermediate}}.int_user_identity as identity
        inner join {{marts}}.dim_users as users on identity.user_key = users.user_key
        where date_trunc('week', users.first_seen_at at time zone 'UTC')::date
            in (select cohort_week from touched_cohort_weeks)
        and users.user_key not in (select user_key from touched_users)
        group by date_trunc('week', users.first_seen_at at time zone 'UTC')::date
    ) and {_USERS_COUNTED}
    group by client_id
"""

# ... and one bot event on each touched date (when fct_bot_traffic_daily exists): the date's
# other representative may be a person's, which that mart does not read.
_BOT_REPRESENTATIVES_SQL = """
    union
    select min(event_id) from {marts}.clickstream_events
    where event_date in (select event_date from gone_events) and is_bot
    group by event_date
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
        " kept.context_product_id as product_id, kept.client_id,"
        " case when kept.event_name = 'purchase'"
        " then coalesce(kept.order_id, 'session:' || kept.session_id) end as order_key"
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
    has_identity = _exists(cursor, f"{INTERMEDIATE_SCHEMA}.int_user_identity")
    _touch_users(cursor, marts, has_identity)
    for mart, touched in DELETE_TOUCHED_ROWS.items():
        if mart in marts:
            counts.rows_deleted[mart] = _execute(
                cursor,
                sql.SQL("delete from {}.{} where ").format(schema, sql.Identifier(mart))
                + sql.SQL(touched),
            )
    intermediate = sql.Identifier(INTERMEDIATE_SCHEMA)
    for model, touched in DELETE_TOUCHED_INTERMEDIATE_ROWS.items():
        if _exists(cursor, f"{INTERMEDIATE_SCHEMA}.{model}"):
            counts.rows_deleted[model] = _execute(
                cursor,
                sql.SQL("delete from {}.{} where ").format(intermediate, sql.Identifier(model))
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
    users_part = sql.SQL(_USERS_REPRESENTATIVES_SQL).format(marts=schema)
    if has_identity and "dim_users" in marts:
        users_part += sql.SQL(_COHORT_REPRESENTATIVES_SQL).format(
            marts=schema, intermediate=intermediate
        )
    bot_part = (
        sql.SQL(_BOT_REPRESENTATIVES_SQL).format(marts=schema)
        if "fct_bot_traffic_daily" in marts
        else sql.SQL("")
    )
    cursor.execute(
        sql.SQL(_REPRESENTATIVES_SQL).format(
            marts=schema, funnel_dates=funnel_part, users=users_part, bot_dates=bot_part
        )
    )
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


def _touch_users(cursor: Any, marts: set[str], has_identity: bool) -> None:
    """The temporary tables of the users marts' touched keys (_USERS_SQL), made from the
    rows as they are before anything is deleted."""
    schema = sql.Identifier(MARTS_SCHEMA)
    intermediate = sql.Identifier(INTERMEDIATE_SCHEMA)
    empty = sql.SQL("")

    def part(template: str, present: bool) -> sql.Composable:
        return (
            sql.SQL(template).format(marts=schema, intermediate=intermediate) if present else empty
        )

    cursor.execute(
        sql.SQL(_USERS_SQL).format(
            marts=schema,
            identity_users=part(_IDENTITY_USERS_SQL, has_identity),
            identity_clients=part(_IDENTITY_CLIENTS_SQL, has_identity),
            first_visit_dates=part(_FIRST_VISIT_DATES_SQL, "dim_users" in marts),
            first_visit_weeks=part(_FIRST_VISIT_WEEKS_SQL, "dim_users" in marts),
            client_first_visit_dates=part(_CLIENT_FIRST_VISIT_DATES_SQL, has_identity),
            client_first_visit_weeks=part(_CLIENT_FIRST_VISIT_WEEKS_SQL, has_identity),
            client_orders=part(_CLIENT_ORDERS_SQL, "fct_orders" in marts),
        )
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
