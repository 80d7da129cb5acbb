"""A readable text report of the marts, for the demo (`make demo` prints it after dbt build):
the funnel over every session, sessions, conversion and revenue by channel (and the device
split), new and returning users with the weekly cohorts' retention, the top 10 products and the
5 busiest hours; of every day, or of the days given (UTC, both included).

    from devtools.marts_summary import summarise_marts
    print(summarise_marts(conn))
    print(summarise_marts(conn, (date(2026, 3, 2), date(2026, 3, 2))))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg2.errors
from psycopg2.extensions import connection

from dashboard.queries import DateRange, retention_cohorts, week_retention

FUNNEL_STEPS = (
    ("sessions", "sessions"),
    ("page view", "sessions_with_page_view"),
    ("product view", "sessions_with_product_view"),
    ("add to cart", "sessions_with_add_to_cart"),
    ("checkout", "sessions_with_checkout"),
    ("purchase", "sessions_with_purchase"),
)

# Every query takes %(first)s and %(last)s: the days to report on (null: every day).
_FUNNEL_SQL = f"""
select {", ".join(f"coalesce(sum({column}), 0)" for _, column in FUNNEL_STEPS)}
from public.fct_funnel_daily
where %(first)s::date is null or session_date between %(first)s and %(last)s
"""

_CHANNELS_SQL = """
select
    channel,
    sum(sessions),
    sum(sessions_with_purchase),
    sum(orders),
    sum(revenue),
    min(currency)
from public.fct_traffic_daily
where %(first)s::date is null or session_date between %(first)s and %(last)s
group by channel
order by sum(sessions) desc, channel
"""

_DEVICES_SQL = """
select device_class, sum(sessions)
from public.fct_traffic_daily
where %(first)s::date is null or session_date between %(first)s and %(last)s
group by device_class
order by sum(sessions) desc, device_class
"""

_USERS_SQL = """
select
    coalesce(sum(new_users), 0),
    coalesce(sum(returning_users), 0),
    coalesce(sum(sessions_of_returning_users), 0),
    coalesce(sum(sessions), 0),
    min(activity_date),
    max(activity_date)
from public.fct_users_daily
where %(first)s::date is null or activity_date between %(first)s and %(last)s
"""

RETENTION_COHORTS = 8
# The last day with data: weeks after it have not happened yet.
_LAST_DAY_SQL = "select max(activity_date) from public.fct_users_daily"

_TOP_PRODUCTS_SQL = """
select
    performance.product_id,
    coalesce(products.product_name, performance.product_id),
    sum(performance.views),
    sum(performance.add_to_carts),
    sum(performance.purchases),
    sum(performance.revenue),
    performance.currency
from public.fct_product_performance_daily as performance
left join public.dim_products as products on products.product_id = performance.product_id
where %(first)s::date is null or performance.event_date between %(first)s and %(last)s
-- revenue in different currencies is never added up: a product would get a row per currency
group by performance.product_id, products.product_name, performance.currency
order by sum(performance.views) desc, sum(performance.revenue) desc, performance.product_id
limit 10
"""

_OTHER_CURRENCIES_SQL = """
select coalesce(sum(purchases_in_other_currencies), 0), min(currency)
from public.fct_product_performance_daily
where %(first)s::date is null or event_date between %(first)s and %(last)s
"""

_BUSIEST_HOURS_SQL = """
select
    to_char(event_hour at time zone 'UTC', 'YYYY-MM-DD HH24:00'),
    sum(events),
    sum(events) filter (where event_name = 'page_view'),
    sum(events) filter (where event_name = 'purchase')
from public.fct_activity_hourly
where
    %(first)s::date is null
    or (event_hour at time zone 'UTC')::date between %(first)s and %(last)s
group by event_hour
order by sum(events) desc, event_hour
limit 5
"""


def _rows(conn: connection, sql: str, days: Mapping[str, date | None]) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql, days)
        return list(cursor.fetchall())


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned first column, the others right-aligned, two spaces apart."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for row in (headers, *rows):
        cells = [str(row[0]).ljust(widths[0])]
        cells += [str(cell).rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def _funnel_section(conn: connection, days: Mapping[str, date | None]) -> list[str]:
    counts = [int(value) for value in _rows(conn, _FUNNEL_SQL, days)[0]]
    sessions = counts[0]
    rows = []
    for index, ((label, _), count) in enumerate(zip(FUNNEL_STEPS, counts, strict=True)):
        previous = counts[index - 1] if index > 0 else sessions
        rows.append((label, f"{count:,}", _percent(count, sessions), _percent(count, previous)))
    return [
        "Funnel (sessions containing each step)",
        *_table(("step", "sessions", "of all", "of previous"), rows),
    ]


def _money(value: Decimal | None, currency: str) -> str:
    return f"{value or 0:,.2f} {currency}"


def _channels_section(conn: connection, days: Mapping[str, date | None]) -> list[str]:
    channels = _rows(conn, _CHANNELS_SQL, days)
    if not channels:
        return ["Channels: none yet"]
    total = sum(int(row[1]) for row in channels)
    rows = [
        (
            channel,
            f"{sessions:,}",
            _percent(sessions, total),
            _percent(purchasing, sessions),
            f"{orders:,}",
            _money(revenue, currency),
        )
        for channel, sessions, purchasing, orders, revenue, currency in channels
    ]
    devices = ", ".join(
        f"{device} {_percent(sessions, total).strip()}"
        for device, sessions in _rows(conn, _DEVICES_SQL, days)
    )
    return [
        "Sessions by channel (of the session's first event; conversion: sessions with a"
        " purchase / sessions)",
        *_table(("channel", "sessions", "share", "conversion", "orders", "revenue"), rows),
        f"Devices: {devices}",
    ]


def _retention_section(conn: connection, days: Mapping[str, date | None]) -> list[str]:
    new, returning, returning_sessions, sessions, first, last = _rows(conn, _USERS_SQL, days)[0]
    [(last_day,)] = _rows(conn, _LAST_DAY_SQL, days)
    if first is None or last_day is None:
        return ["Users: none yet"]
    # the latest cohorts: a year of data would make a long table of old weeks
    cohorts = retention_cohorts(conn, DateRange(first, last), last_day)[-RETENTION_COHORTS:]
    widest = max(len(cohort.weeks) for cohort in cohorts) if cohorts else 0
    rows = []
    for cohort in cohorts:
        cells = [""] * widest
        for week in cohort.weeks:
            rate = week.retention_rate or 0.0
            cells[week.weeks_since_first_visit] = (
                f"{100 * rate:.1f}%{'*' if week.status == 'in progress' else ''}"
            )
        rows.append((f"{cohort.cohort_week}", f"{cohort.users:,}", *cells))
    week_one = week_retention(cohorts, 1)
    if week_one.cohorts:
        retained = (
            f"Week-1 retention: {_percent(week_one.active_users, week_one.users).strip()}"
            f" ({week_one.active_users:,} of the {week_one.users:,} users of the"
            f" {week_one.cohorts} cohort(s) whose week 1 is complete)"
        )
    else:
        retained = f"Week-1 retention: no cohort has a complete week 1 yet (data ends {last_day})"
    return [
        "Users (stitched across devices and visits), by the UTC day they came:"
        f" {new:,} new, {returning:,} returning (summed over the days);"
        f" {_percent(returning_sessions, sessions).strip()} of {sessions:,} sessions were"
        " returning users'",
        f"Weekly cohorts (users by the week of their first visit; the latest {RETENTION_COHORTS}):"
        " share active N weeks later, * = week in progress",
        *_table(
            ("cohort", "users", *(f"week {week}" for week in range(widest))),
            rows,
        ),
        retained,
    ]


def _products_section(conn: connection, days: Mapping[str, date | None]) -> list[str]:
    rows = [
        (str(name)[:40], f"{views:,}", f"{carts:,}", f"{purchases:,}", _money(revenue, currency))
        for _, name, views, carts, purchases, revenue, currency in _rows(
            conn, _TOP_PRODUCTS_SQL, days
        )
    ]
    if not rows:
        return ["Top products: none yet"]
    [(other_currencies, currency)] = _rows(conn, _OTHER_CURRENCIES_SQL, days)
    note = (
        [
            f"{other_currencies:,} purchase events in other currencies than {currency}"
            " are not in revenue"
        ]
        if other_currencies
        else []
    )
    return [
        "Top 10 products by views (views, carts and purchases are event counts)",
        *_table(("product", "views", "carts", "purchases", "revenue"), rows),
        *note,
    ]


def _hours_section(conn: connection, days: Mapping[str, date | None]) -> list[str]:
    rows = [
        (hour, f"{events:,}", f"{page_views or 0:,}", f"{purchases or 0:,}")
        for hour, events, page_views, purchases in _rows(conn, _BUSIEST_HOURS_SQL, days)
    ]
    if not rows:
        return ["Busiest hours: none yet"]
    return [
        "5 busiest hours (UTC)",
        *_table(("hour", "events", "page views", "purchases"), rows),
    ]


def summarise_marts(conn: connection, days: tuple[date, date] | None = None) -> str:
    """The funnel, channels, users and retention, the top 10 products and the 5 busiest
    hours, read from the marts: of every day, or of the days from `days[0]` to `days[1]`
    (UTC, both included)."""
    first, last = days or (None, None)
    bounds = {"first": first, "last": last}
    try:
        sections = [
            _funnel_section(conn, bounds),
            _channels_section(conn, bounds),
            _retention_section(conn, bounds),
            _products_section(conn, bounds),
            _hours_section(conn, bounds),
        ]
    except psycopg2.errors.UndefinedTable:
        conn.rollback()
        return "The marts are not built yet: run `make hourly` (load, then dbt build).\n"
    return "\n\n".join("\n".join(section) for section in sections) + "\n"
