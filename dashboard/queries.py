"""The dashboards' data: parameterised SQL against the marts and the loader's status tables.

Every function takes an open connection and returns plain typed rows (frozen dataclasses);
nothing here knows about Shiny or plotly. The pages read only the small aggregate marts
(`fct_funnel_daily`, `fct_traffic_daily`, `fct_product_performance_daily`,
`fct_activity_hourly`, `fct_activity_daily`, `fct_users_daily`, `fct_retention_weekly`,
`invalid_events`) and the loader's `staging.load_runs` / `staging.rejected_events`, never the
10M-row `clickstream_events` or `fct_sessions`, so every panel stays fast.
Column names and metric definitions: design.md and docs/dashboard.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

import psycopg2
import psycopg2.errors
from psycopg2.extensions import connection

from clickstream.errors import TerminalError, WarehouseUnreachableError
from clickstream.warehouse import connect

# A dashboard query that runs longer than this is a bug: fail instead of hanging the page.
STATEMENT_TIMEOUT_MS = 15_000
FUNNEL_STEPS = ("page_view", "product_view", "add_to_cart", "checkout", "purchase")
# A day with fewer events (or sessions) than this share of the busiest of the days around it
# is partial: a handful of late or clock-skewed events, or the first or last hours of the data.
# Per-day means and trends leave such days out, the default date range trims them from its
# ends, and the pages name them, so that a few stray events cannot halve a mean.
PARTIAL_DAY_SHARE = 0.10
PARTIAL_DAY_NEIGHBOURS = 7  # days with data on each side that a day is compared with
ProductMetric = Literal["views", "add_to_carts", "purchases", "revenue"]
PRODUCT_METRICS: tuple[ProductMetric, ...] = ("views", "add_to_carts", "purchases", "revenue")


class MartsNotBuiltError(TerminalError):
    """The warehouse answers but the marts (or the loader's tables) do not exist yet."""


@dataclass(frozen=True)
class DateRange:
    """Inclusive UTC dates."""

    start: date
    end: date

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def end_before(self) -> datetime:
        """The first instant after the range."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    def params(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "start_at": self.start_at,
            "end_before": self.end_before,
        }


@contextmanager
def warehouse() -> Iterator[connection]:
    """A read-only connection from the PG* environment, closed afterwards.

    Raises WarehouseUnreachableError when PostgreSQL cannot be reached and MartsNotBuiltError
    when a relation the dashboards read is missing."""
    conn = connect(
        application_name="clickstream-dashboard",
        options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c default_transaction_read_only=on",
    )
    try:
        conn.autocommit = True
        yield conn
    except psycopg2.errors.UndefinedTable as error:
        raise MartsNotBuiltError(
            f"the warehouse has no marts yet ({str(error).splitlines()[0]})"
        ) from error
    except psycopg2.OperationalError as error:
        raise WarehouseUnreachableError(f"lost the warehouse connection: {error}") from error
    finally:
        conn.close()


def _rows(conn: connection, query: str, params: dict[str, Any] | None = None) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(query, params or {})
        return cursor.fetchall()


def _rate(numerator: float | Decimal | None, denominator: float | Decimal | None) -> float | None:
    """numerator / denominator, None when the denominator is 0 (as in the marts)."""
    if not denominator:
        return None
    return float(numerator or 0) / float(denominator)


# ---------------------------------------------------------------- partial days


T = TypeVar("T")


def split_partial_days(days: Sequence[T], size: Callable[[T], int]) -> tuple[list[T], list[T]]:
    """(full days, partial days) of `days` (in date order), each list in that order.

    A day is partial when its `size` (events, sessions) is under PARTIAL_DAY_SHARE of the
    busiest among its neighbours: itself and the PARTIAL_DAY_NEIGHBOURS days with data
    before and after it. Neighbours, not the whole range: a shop that grew tenfold in a year
    still has full days at the start of that year."""
    sizes = [size(day) for day in days]
    full: list[T] = []
    partial: list[T] = []
    for index, day in enumerate(days):
        near = sizes[max(0, index - PARTIAL_DAY_NEIGHBOURS) : index + PARTIAL_DAY_NEIGHBOURS + 1]
        (partial if sizes[index] < PARTIAL_DAY_SHARE * max(near) else full).append(day)
    return full, partial


# ---------------------------------------------------------------- the shared date filter


@dataclass(frozen=True)
class DayEvents:
    event_date: date
    events: int


@dataclass(frozen=True)
class DataDates:
    """The UTC dates that have events, and the date range the pages start with."""

    every_day: DateRange  # the first to the last date with events ("All dates")
    default: DateRange  # the same without the partial days at either end
    partial_days: tuple[DayEvents, ...]  # partial days anywhere in every_day

    @property
    def left_out_of_default(self) -> tuple[DayEvents, ...]:
        return tuple(
            day
            for day in self.partial_days
            if not self.default.start <= day.event_date <= self.default.end
        )


def data_dates(conn: connection) -> DataDates | None:
    """The dates with events (fct_activity_daily: one small row per day); None when none.

    The default range leaves out partial days at the ends, such as a next day that holds only
    a handful of late or clock-skewed events: they would show as a day of (almost) no
    traffic and halve every per-day mean."""
    rows = _rows(conn, "select event_date, events from public.fct_activity_daily order by 1")
    days = [DayEvents(row[0], int(row[1])) for row in rows]
    if not days:
        return None
    full, partial = split_partial_days(days, lambda day: day.events)
    return DataDates(
        every_day=DateRange(days[0].event_date, days[-1].event_date),
        default=DateRange(full[0].event_date, full[-1].event_date),
        partial_days=tuple(partial),
    )


def data_date_range(conn: connection) -> DateRange | None:
    """The UTC dates that have events (from fct_activity_daily); None when there are none."""
    dates = data_dates(conn)
    return None if dates is None else dates.every_day


# ---------------------------------------------------------------- the channel and device filter

# fct_traffic_daily's channel values (the channel_group macro's, exactly) and device classes
# (bots are never in the marts), in the order the filters list them.
CHANNELS = (
    "Direct",
    "Organic Search",
    "Paid Search",
    "Social",
    "Email",
    "Referral",
    "Affiliates",
    "Display",
    "Other",
)
DEVICE_CLASSES = ("desktop", "mobile", "tablet", "other")
NOT_SET = "(not set)"  # fct_traffic_daily's value for a missing dimension


@dataclass(frozen=True)
class TrafficFilter:
    """The sessions' channel and device class; None means every one. Only the pages reading
    fct_traffic_daily (one row per day and channel, device, ...) can follow it."""

    channel: str | None = None
    device_class: str | None = None

    @property
    def is_set(self) -> bool:
        return self.channel is not None or self.device_class is not None

    def params(self) -> dict[str, Any]:
        return {"channel": self.channel, "device_class": self.device_class}

    def describe(self) -> str:
        """'Paid Search sessions on mobile', 'every session'."""
        if not self.is_set:
            return "every session"
        text = f"{self.channel} sessions" if self.channel else "sessions"
        return f"{text} on {self.device_class}" if self.device_class else text


_TRAFFIC_FILTER_SQL = """
    session_date between %(start)s and %(end)s
    and (%(channel)s::text is null or channel = %(channel)s)
    and (%(device_class)s::text is null or device_class = %(device_class)s)
"""
EVERY_SESSION = TrafficFilter()


# ---------------------------------------------------------------- Funnel


_FUNNEL_COUNTS = """
    coalesce(sum(sessions), 0),
    coalesce(sum(sessions_with_page_view), 0),
    coalesce(sum(sessions_with_product_view), 0),
    coalesce(sum(sessions_with_add_to_cart), 0),
    coalesce(sum(sessions_with_checkout), 0),
    coalesce(sum(sessions_with_purchase), 0)
"""


def _funnel_source(where: TrafficFilter) -> str:
    """The relation and condition the funnel counts come from: fct_funnel_daily (a row a day)
    for every session, fct_traffic_daily (same counts, split by channel, device, ...) for a
    channel or device. Both are fixed text: the values go in as parameters."""
    if where.is_set:
        return f"public.fct_traffic_daily where {_TRAFFIC_FILTER_SQL}"
    return "public.fct_funnel_daily where session_date between %(start)s and %(end)s"


@dataclass(frozen=True)
class FunnelStep:
    step: str
    sessions: int
    # Sessions reaching this step / sessions reaching the previous step (None for the first
    # step or when the previous step has no sessions).
    step_rate: float | None
    # Sessions reaching this step / all sessions.
    overall_rate: float | None


@dataclass(frozen=True)
class FunnelSummary:
    sessions: int
    steps: tuple[FunnelStep, ...]

    @property
    def session_conversion_rate(self) -> float | None:
        return _rate(self.steps[-1].sessions, self.sessions)


def funnel_summary(
    conn: connection, dates: DateRange, where: TrafficFilter = EVERY_SESSION
) -> FunnelSummary:
    """Sessions started in the range and how many reached each step (fct_funnel_daily, or
    fct_traffic_daily for one channel or device)."""
    (row,) = _rows(
        conn,
        f"select {_FUNNEL_COUNTS} from {_funnel_source(where)}",
        dates.params() | where.params(),
    )
    sessions = int(row[0])
    counts = [int(value) for value in row[1:]]
    steps = []
    for index, (step, count) in enumerate(zip(FUNNEL_STEPS, counts, strict=True)):
        # The first step's rate is against all sessions, like the mart's product_view_rate
        # is for the second: a session may start on any page.
        previous = sessions if index == 0 else counts[index - 1]
        steps.append(FunnelStep(step, count, _rate(count, previous), _rate(count, sessions)))
    return FunnelSummary(sessions, tuple(steps))


@dataclass(frozen=True)
class FunnelDay:
    session_date: date
    sessions: int
    sessions_with_product_view: int
    sessions_with_add_to_cart: int
    sessions_with_checkout: int
    sessions_with_purchase: int

    # The rates of fct_funnel_daily, from the day's counts (so that they can be worked out
    # for one channel or device too).
    @property
    def product_view_rate(self) -> float | None:
        return _rate(self.sessions_with_product_view, self.sessions)

    @property
    def add_to_cart_rate(self) -> float | None:
        return _rate(self.sessions_with_add_to_cart, self.sessions_with_product_view)

    @property
    def checkout_rate(self) -> float | None:
        return _rate(self.sessions_with_checkout, self.sessions_with_add_to_cart)

    @property
    def purchase_rate(self) -> float | None:
        return _rate(self.sessions_with_purchase, self.sessions_with_checkout)

    @property
    def session_conversion_rate(self) -> float | None:
        return _rate(self.sessions_with_purchase, self.sessions)


def funnel_daily(
    conn: connection, dates: DateRange, where: TrafficFilter = EVERY_SESSION
) -> list[FunnelDay]:
    """The conversion trend: one row per session date in the range."""
    rows = _rows(
        conn,
        f"""
        select
            session_date, sum(sessions), sum(sessions_with_product_view),
            sum(sessions_with_add_to_cart), sum(sessions_with_checkout),
            sum(sessions_with_purchase)
        from {_funnel_source(where)}
        group by session_date
        order by session_date
        """,
        dates.params() | where.params(),
    )
    return [FunnelDay(row[0], *(int(value) for value in row[1:])) for row in rows]


# ---------------------------------------------------------------- Products


@dataclass(frozen=True)
class ProductFilter:
    """None means every category / brand."""

    category: str | None = None
    brand: str | None = None

    def params(self) -> dict[str, Any]:
        return {"category": self.category, "brand": self.brand}


_PRODUCT_FILTER_SQL = """
    event_date between %(start)s and %(end)s
    and (%(category)s::text is null or category = %(category)s)
    and (%(brand)s::text is null or brand = %(brand)s)
"""


@dataclass(frozen=True)
class Money:
    currency: str  # ISO 4217, e.g. EUR
    amount: Decimal


def _money(
    currencies: Sequence[str] | None, amounts: Sequence[Decimal] | None
) -> tuple[Money, ...]:
    """Revenue per currency from two parallel SQL arrays (in currency order)."""
    return tuple(
        Money(currency, Decimal(amount))
        for currency, amount in zip(currencies or (), amounts or (), strict=True)
    )


class _ProductRates:
    """The rates of a set of product events, from its counts summed over the range (the
    mart's daily rates are not averaged)."""

    views: int
    add_to_carts: int
    purchases: int

    @property
    def view_to_cart_rate(self) -> float | None:
        return _rate(self.add_to_carts, self.views)

    @property
    def cart_to_purchase_rate(self) -> float | None:
        return _rate(self.purchases, self.add_to_carts)


@dataclass(frozen=True)
class ProductTotals(_ProductRates):
    products: int
    views: int
    add_to_carts: int
    removes: int
    checkouts: int
    purchases: int  # purchase events
    units: int  # the quantity those purchase events bought
    # Revenue in each currency of the range (the mart's `currency`), never added together:
    # one entry unless the reporting currency changed within the range.
    revenue: tuple[Money, ...]
    # Purchase events in another currency than the reporting one: not in `revenue`.
    purchases_in_other_currencies: int


def product_totals(conn: connection, dates: DateRange, where: ProductFilter) -> ProductTotals:
    """Totals over every product matching the filter in the range."""
    (row,) = _rows(
        conn,
        f"""
        with product_days as (
            select * from public.fct_product_performance_daily where {_PRODUCT_FILTER_SQL}
        ),
        revenue_by_currency as (
            select currency, sum(revenue) as revenue from product_days group by currency
        )
        select
            count(distinct product_id),
            coalesce(sum(views), 0), coalesce(sum(add_to_carts), 0),
            coalesce(sum(removes), 0), coalesce(sum(checkouts), 0),
            coalesce(sum(purchases), 0), coalesce(sum(units), 0),
            coalesce(sum(purchases_in_other_currencies), 0),
            (select array_agg(currency order by currency) from revenue_by_currency),
            (select array_agg(revenue order by currency) from revenue_by_currency)
        from product_days
        """,
        dates.params() | where.params(),
    )
    products, views, carts, removes, checkouts, purchases, units, other = (
        int(value) for value in row[:8]
    )
    return ProductTotals(
        products,
        views,
        carts,
        removes,
        checkouts,
        purchases,
        units,
        revenue=_money(row[8], row[9]),
        purchases_in_other_currencies=other,
    )


@dataclass(frozen=True)
class ProductRow(_ProductRates):
    product_id: str
    product_name: str | None
    category: str | None
    brand: str | None
    views: int
    add_to_carts: int
    purchases: int  # purchase events
    units: int
    revenue: tuple[Money, ...]  # per currency, never added together
    # What "rank by revenue" ranks: the revenue in the currency of the range's latest day.
    ranked_revenue: Money


def top_products(
    conn: connection,
    dates: DateRange,
    where: ProductFilter,
    by: ProductMetric = "views",
    limit: int = 20,
) -> list[ProductRow]:
    """The `limit` products with the most `by` in the range (ties by product id). Revenue
    ranks in one currency, the latest day's: amounts in two currencies cannot be compared."""
    if by not in PRODUCT_METRICS:
        raise ValueError(f"cannot rank products by {by!r}: choose one of {PRODUCT_METRICS}")
    # `by` is one of four fixed names checked above, so formatting it in is safe.
    rows = _rows(
        conn,
        f"""
        with product_days as (
            select * from public.fct_product_performance_daily where {_PRODUCT_FILTER_SQL}
        ),
        ranking_currency as (
            select currency from product_days order by event_date desc, currency limit 1
        ),
        revenue_by_currency as (
            select product_id, currency, sum(revenue) as revenue
            from product_days
            group by product_id, currency
        ),
        revenues as (
            select
                product_id,
                array_agg(currency order by currency) as currencies,
                array_agg(revenue order by currency) as amounts,
                coalesce(
                    sum(revenue) filter (where currency = (select currency from ranking_currency)),
                    0
                ) as revenue
            from revenue_by_currency
            group by product_id
        ),
        products as (
            select
                product_id,
                max(product_name) as product_name, max(category) as category,
                max(brand) as brand,
                sum(views) as views, sum(add_to_carts) as add_to_carts,
                sum(purchases) as purchases, sum(units) as units
            from product_days
            group by product_id
        )
        select
            product_id, product_name, category, brand, views, add_to_carts, purchases, units,
            currencies, amounts, (select currency from ranking_currency), revenue
        from products join revenues using (product_id)
        order by {by} desc, product_id
        limit %(limit)s
        """,
        dates.params() | where.params() | {"limit": limit},
    )
    return [
        ProductRow(
            product_id=row[0],
            product_name=row[1],
            category=row[2],
            brand=row[3],
            views=int(row[4]),
            add_to_carts=int(row[5]),
            purchases=int(row[6]),
            units=int(row[7]),
            revenue=_money(row[8], row[9]),
            ranked_revenue=Money(row[10], Decimal(row[11])),
        )
        for row in rows
    ]


def product_categories(conn: connection) -> list[str]:
    """The categories for the Products filter (from dim_products)."""
    rows = _rows(
        conn,
        "select distinct category from public.dim_products"
        " where category is not null order by category",
    )
    return [row[0] for row in rows]


def product_brands(conn: connection, category: str | None = None) -> list[str]:
    """The brands for the Products filter, within a category when one is chosen."""
    rows = _rows(
        conn,
        """
        select distinct brand from public.dim_products
        where brand is not null and (%(category)s::text is null or category = %(category)s)
        order by brand
        """,
        {"category": category},
    )
    return [row[0] for row in rows]


# ---------------------------------------------------------------- Activity


@dataclass(frozen=True)
class EventCount:
    """Events of one name in one period (an hour or a day, UTC)."""

    period: datetime | date
    event_name: str
    events: int


# The ways the Activity page slices fct_activity_hourly: fixed SQL expressions, never input.
_BY_HOUR = "event_hour"
_BY_EVENT_NAME = "event_name"
_BY_DATE = "(event_hour at time zone 'UTC')::date"
_BY_WEEKDAY = "extract(isodow from event_hour at time zone 'UTC')::int"
_BY_HOUR_OF_DAY = "extract(hour from event_hour at time zone 'UTC')::int"


def _hourly_events(
    conn: connection, dates: DateRange, first: str, second: str
) -> list[tuple[Any, Any, int]]:
    """fct_activity_hourly's events in the range, summed by two of the _BY_ expressions and
    ordered by them. The one query every Activity chart of event counts reads."""
    rows = _rows(
        conn,
        f"""
        select {first}, {second}, sum(events)
        from public.fct_activity_hourly
        where event_hour >= %(start_at)s and event_hour < %(end_before)s
        group by 1, 2
        order by 1, 2
        """,
        dates.params(),
    )
    return [(row[0], row[1], int(row[2])) for row in rows]


def events_per_hour(conn: connection, dates: DateRange) -> list[EventCount]:
    rows = _hourly_events(conn, dates, _BY_HOUR, _BY_EVENT_NAME)
    return [EventCount(*row) for row in rows]


def events_per_day(conn: connection, dates: DateRange) -> list[EventCount]:
    rows = _hourly_events(conn, dates, _BY_DATE, _BY_EVENT_NAME)
    return [EventCount(*row) for row in rows]


@dataclass(frozen=True)
class HeatmapCell:
    day_of_week: int  # ISO: 1 = Monday … 7 = Sunday (UTC)
    hour_of_day: int  # 0 … 23 (UTC)
    events: int


def weekly_heatmap(conn: connection, dates: DateRange) -> list[HeatmapCell]:
    """Events by UTC hour of day by day of week, every event name together."""
    rows = _hourly_events(conn, dates, _BY_WEEKDAY, _BY_HOUR_OF_DAY)
    return [HeatmapCell(*row) for row in rows]


@dataclass(frozen=True)
class ActiveDay:
    event_date: date
    events: int
    users: int
    sessions: int
    logged_in_users: int
    new_clients: int


def active_days(conn: connection, dates: DateRange) -> list[ActiveDay]:
    """Active users and sessions per UTC day (fct_activity_daily: distinct counts per day
    cannot be summed from hours)."""
    rows = _rows(
        conn,
        """
        select event_date, events, users, sessions, logged_in_users, new_clients
        from public.fct_activity_daily
        where event_date between %(start)s and %(end)s
        order by event_date
        """,
        dates.params(),
    )
    return [ActiveDay(row[0], *(int(value) for value in row[1:])) for row in rows]


# ---------------------------------------------------------------- Acquisition


@dataclass(frozen=True)
class TrafficMeasures:
    """fct_traffic_daily's measures summed over a set of its rows (sessions by their start
    date: every session is in exactly one row, so the sums count each once)."""

    sessions: int
    sessions_with_purchase: int
    bounces: int
    engaged_seconds: float  # page pings' engaged time, summed over the sessions
    orders: int
    revenue: Money  # in the reporting currency (fct_traffic_daily's `currency`)

    @property
    def conversion_rate(self) -> float | None:
        return _rate(self.sessions_with_purchase, self.sessions)

    @property
    def bounce_rate(self) -> float | None:
        return _rate(self.bounces, self.sessions)

    @property
    def engaged_seconds_per_session(self) -> float | None:
        return _rate(self.engaged_seconds, self.sessions)

    @property
    def revenue_per_session(self) -> Money | None:
        return _per(self.revenue, self.sessions)

    @property
    def average_order_value(self) -> Money | None:
        return _per(self.revenue, self.orders)


def _per(amount: Money, count: int) -> Money | None:
    return None if not count else Money(amount.currency, amount.amount / count)


@dataclass(frozen=True)
class TrafficRow(TrafficMeasures):
    label: str  # the dimension's value, e.g. 'Paid Search', 'google / cpc', '/product/x'


@dataclass(frozen=True)
class TrafficDay(TrafficMeasures):
    session_date: date
    channel: str | None  # None: every channel of the day together (days_together)


TrafficDimension = Literal[
    "channel", "source_medium", "campaign", "landing_page", "device_class", "browser_family"
]
# What each breakdown groups fct_traffic_daily by: fixed SQL expressions, never input.
TRAFFIC_DIMENSIONS: dict[TrafficDimension, str] = {
    "channel": "channel",
    "source_medium": "utm_source || ' / ' || utm_medium",
    "campaign": "utm_campaign",
    "landing_page": "entry_page_path",
    "device_class": "device_class",
    "browser_family": "browser_family",
}
_TRAFFIC_MEASURES_SQL = """
    coalesce(sum(sessions), 0),
    coalesce(sum(sessions_with_purchase), 0),
    coalesce(sum(bounces), 0),
    coalesce(sum(engaged_seconds), 0),
    coalesce(sum(orders), 0),
    coalesce(sum(revenue), 0),
    coalesce(min(currency), '')
"""


def _traffic_measures(row: Sequence[Any]) -> dict[str, Any]:
    """The keyword arguments of TrafficMeasures from the 7 columns of _TRAFFIC_MEASURES_SQL."""
    sessions, purchasing, bounces, engaged, orders, revenue, currency = row
    return {
        "sessions": int(sessions),
        "sessions_with_purchase": int(purchasing),
        "bounces": int(bounces),
        "engaged_seconds": float(engaged),
        "orders": int(orders),
        "revenue": Money(currency, Decimal(revenue)),
    }


def traffic_totals(
    conn: connection, dates: DateRange, where: TrafficFilter = EVERY_SESSION
) -> TrafficMeasures:
    """Every session started in the range (of the channel and device chosen)."""
    (row,) = _rows(
        conn,
        f"select {_TRAFFIC_MEASURES_SQL} from public.fct_traffic_daily where {_TRAFFIC_FILTER_SQL}",
        dates.params() | where.params(),
    )
    return TrafficMeasures(**_traffic_measures(row))


def traffic_breakdown(
    conn: connection,
    dates: DateRange,
    by: TrafficDimension,
    where: TrafficFilter = EVERY_SESSION,
    limit: int | None = None,
) -> list[TrafficRow]:
    """The range's sessions by one dimension, the most sessions first (ties by label); the
    `limit` first ones, or all."""
    if by not in TRAFFIC_DIMENSIONS:
        raise ValueError(f"cannot break traffic down by {by!r}: choose one of {TRAFFIC_DIMENSIONS}")
    # The expression is one of the fixed ones above, so formatting it in is safe.
    rows = _rows(
        conn,
        f"""
        select {TRAFFIC_DIMENSIONS[by]} as label, {_TRAFFIC_MEASURES_SQL}
        from public.fct_traffic_daily
        where {_TRAFFIC_FILTER_SQL}
        group by label
        order by sum(sessions) desc, label
        limit %(limit)s
        """,
        dates.params() | where.params() | {"limit": limit},
    )
    return [TrafficRow(label=row[0], **_traffic_measures(row[1:])) for row in rows]


def traffic_by_day(
    conn: connection, dates: DateRange, where: TrafficFilter = EVERY_SESSION
) -> list[TrafficDay]:
    """The range's sessions by start date and channel, in that order."""
    rows = _rows(
        conn,
        f"""
        select session_date, channel, {_TRAFFIC_MEASURES_SQL}
        from public.fct_traffic_daily
        where {_TRAFFIC_FILTER_SQL}
        group by session_date, channel
        order by session_date, channel
        """,
        dates.params() | where.params(),
    )
    return [
        TrafficDay(session_date=row[0], channel=row[1], **_traffic_measures(row[2:]))
        for row in rows
    ]


def days_together(days: Sequence[TrafficDay]) -> list[TrafficDay]:
    """traffic_by_day's rows with every channel of a day added up (channel None), by date.
    (Sums of counts and revenue, so no second query is needed.)"""
    by_date: dict[date, list[TrafficDay]] = {}
    for day in days:
        by_date.setdefault(day.session_date, []).append(day)
    return [
        TrafficDay(
            session_date=session_date,
            channel=None,
            sessions=sum(row.sessions for row in rows),
            sessions_with_purchase=sum(row.sessions_with_purchase for row in rows),
            bounces=sum(row.bounces for row in rows),
            engaged_seconds=sum(row.engaged_seconds for row in rows),
            orders=sum(row.orders for row in rows),
            revenue=Money(
                rows[0].revenue.currency, sum((row.revenue.amount for row in rows), Decimal(0))
            ),
        )
        for session_date, rows in sorted(by_date.items())
    ]


# ---------------------------------------------------------------- Audience


@dataclass(frozen=True)
class UsersDay:
    """fct_users_daily: users (stitched: dim_users' user_key) active on one UTC day."""

    activity_date: date
    users: int
    new_users: int  # whose first visit was that day
    returning_users: int  # active that day, first seen on an earlier day
    sessions: int
    sessions_of_new_users: int
    sessions_of_returning_users: int


def users_daily(conn: connection, dates: DateRange) -> list[UsersDay]:
    rows = _rows(
        conn,
        """
        select
            activity_date, users, new_users, returning_users, sessions,
            sessions_of_new_users, sessions_of_returning_users
        from public.fct_users_daily
        where activity_date between %(start)s and %(end)s
        order by activity_date
        """,
        dates.params(),
    )
    return [UsersDay(row[0], *(int(value) for value in row[1:])) for row in rows]


WeekStatus = Literal["complete", "in progress"]


@dataclass(frozen=True)
class CohortWeek:
    weeks_since_first_visit: int  # 0 = the week of the first visit
    active_users: int
    retention_rate: float | None  # active users / the cohort's users
    # "in progress" while the data does not reach the week's last day (a lower figure than
    # it will end with, so the page marks it).
    status: WeekStatus


@dataclass(frozen=True)
class Cohort:
    cohort_week: date  # Monday (UTC) of the users' first visit
    users: int
    weeks: tuple[CohortWeek, ...]  # from week 0, up to the week holding the last data day

    def week(self, weeks_since_first_visit: int) -> CohortWeek | None:
        return next(
            (
                week
                for week in self.weeks
                if week.weeks_since_first_visit == weeks_since_first_visit
            ),
            None,
        )


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def retention_cohorts(conn: connection, dates: DateRange, last_day: date) -> list[Cohort]:
    """The weekly cohorts whose first-visit week overlaps the range (fct_retention_weekly),
    oldest first, each with the weeks the data has reached: a week that starts after
    `last_day` (the last day with data) has not happened yet and is left out."""
    rows = _rows(
        conn,
        """
        select cohort_week, weeks_since_first_visit, cohort_users, active_users
        from public.fct_retention_weekly
        where cohort_week between %(first_week)s and %(end)s
        order by cohort_week, weeks_since_first_visit
        """,
        dates.params() | {"first_week": monday_of(dates.start)},
    )
    cohorts: dict[date, list[tuple[int, int, int]]] = {}
    for cohort_week, week, users, active in rows:
        cohorts.setdefault(cohort_week, []).append((int(week), int(users), int(active)))
    result = []
    for cohort_week, weeks in cohorts.items():
        users = weeks[0][1]
        seen = []
        for week, _, active in weeks:
            week_start = cohort_week + timedelta(weeks=week)
            if week_start > last_day:
                break
            status: WeekStatus = (
                "complete" if week_start + timedelta(days=6) <= last_day else "in progress"
            )
            seen.append(CohortWeek(week, active, _rate(active, users), status))
        result.append(Cohort(cohort_week, users, tuple(seen)))
    return result


@dataclass(frozen=True)
class WeekRetention:
    """Retention in one week since the first visit, over the cohorts that have completed it."""

    weeks_since_first_visit: int
    cohorts: int
    users: int  # in those cohorts
    active_users: int  # of them, active in that week

    @property
    def rate(self) -> float | None:
        return _rate(self.active_users, self.users)


def week_retention(cohorts: Sequence[Cohort], weeks_since_first_visit: int) -> WeekRetention:
    complete = [
        (cohort, week)
        for cohort in cohorts
        if (week := cohort.week(weeks_since_first_visit)) is not None and week.status == "complete"
    ]
    return WeekRetention(
        weeks_since_first_visit,
        cohorts=len(complete),
        users=sum(cohort.users for cohort, _ in complete),
        active_users=sum(week.active_users for _, week in complete),
    )


# ---------------------------------------------------------------- Data health


@dataclass(frozen=True)
class LoadRun:
    load_id: str
    loaded_at: datetime
    objects: int
    lines_loaded: int
    lines_rejected: int


@dataclass(frozen=True)
class DataHealth:
    """The warehouse's state as a whole (not filtered by the date range)."""

    checked_at: datetime
    objects_loaded: int
    lines_loaded: int
    lines_rejected: int  # lines the loader could not read (counted in the manifest)
    rejected_events: int  # rows in staging.rejected_events (a whole unreadable object is one)
    valid_events: int  # rows in clickstream_events
    invalid_events: int  # rows in invalid_events
    latest_event_at: datetime | None  # the latest event hour with events
    recent_loads: tuple[LoadRun, ...]  # newest first

    @property
    def last_load(self) -> LoadRun | None:
        return self.recent_loads[0] if self.recent_loads else None

    @property
    def duplicate_events(self) -> int:
        """Loaded lines that repeat an event_id already kept (raw lines = valid + invalid +
        duplicates, design.md)."""
        return self.lines_loaded - self.valid_events - self.invalid_events

    @property
    def load_age(self) -> timedelta | None:
        """Source freshness: how long ago the loader last loaded something."""
        last = self.last_load
        return None if last is None else self.checked_at - last.loaded_at


def data_health(conn: connection, recent: int = 10) -> DataHealth:
    (totals,) = _rows(
        conn,
        """
        select
            now(),
            (select coalesce(sum(objects), 0) from staging.load_runs),
            (select coalesce(sum(lines_loaded), 0) from staging.load_runs),
            (select coalesce(sum(lines_rejected), 0) from staging.load_runs),
            (select count(*) from staging.rejected_events),
            (select coalesce(sum(events), 0) from public.fct_activity_daily),
            (select count(*) from public.invalid_events),
            (select max(event_hour) from public.fct_activity_hourly)
        """,
    )
    loads = _rows(
        conn,
        """
        select load_id::text, loaded_at, objects, lines_loaded, lines_rejected
        from staging.load_runs
        order by loaded_at desc, load_id
        limit %(recent)s
        """,
        {"recent": recent},
    )
    return DataHealth(
        checked_at=totals[0],
        objects_loaded=int(totals[1]),
        lines_loaded=int(totals[2]),
        lines_rejected=int(totals[3]),
        rejected_events=int(totals[4]),
        valid_events=int(totals[5]),
        invalid_events=int(totals[6]),
        latest_event_at=totals[7],
        recent_loads=tuple(
            LoadRun(row[0], row[1], int(row[2]), int(row[3]), int(row[4])) for row in loads
        ),
    )
