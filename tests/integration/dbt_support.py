"""Helpers for the warehouse tests: run dbt in-process on the test's database, read marts,
and compute the expected marts independently, in plain Python, from raw lines."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import psycopg2
from dbt.cli.main import dbtRunner, dbtRunnerResult

from clickstream.config import PROJECT_ROOT
from clickstream.contract import CONSENT_EVENT, EVENT_NAMES, PING_EVENT, validate_event
from extract_load.user_agents import MAX_USER_AGENT_LENGTH, parse_user_agent

DBT_PROJECT = PROJECT_ROOT / "dbt_project"
DBT_PROFILES = PROJECT_ROOT / "profiles"
CENT = Decimal("0.01")
RATE = Decimal("0.0001")
REPORTING_CURRENCY = "EUR"  # dbt_project.yml's reporting_currency var

MARTS = (
    "clickstream_events",
    "invalid_events",
    "fct_sessions",
    "fct_funnel_daily",
    "dim_products",
    "fct_product_performance_daily",
    "fct_activity_hourly",
    "fct_activity_daily",
    "fct_orders",
    "dim_users",
    "fct_retention_weekly",
    "fct_users_daily",
    "fct_page_views",
    "fct_traffic_daily",
    "fct_bot_traffic_daily",
)


@functools.cache
def shared_target_path() -> Path:
    """dbt's target directory for this test process: never the project's own (a developer's
    `make` runs, or another pytest process, must not share dbt's compiled state with us),
    but one for all modules, so that dbt parses the project once (partial parsing)."""
    path = Path(tempfile.mkdtemp(prefix="dbt-target-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def dbt(*arguments: str, target_path: Path | None = None) -> None:
    """Run dbt in this process against PGDATABASE; fail the test with dbt's own summary."""
    result = dbt_result(*arguments, target_path=target_path)
    if not result.success:
        failures = [
            f"{item.node.name}: {item.status} {item.message}"
            for item in (result.result or [])
            if getattr(item, "status", None) in ("error", "fail")
        ]
        raise AssertionError(f"dbt {' '.join(arguments)} failed: {failures or result.exception}")


def dbt_result(
    *arguments: str, target_path: Path | None = None, project_dir: Path = DBT_PROJECT
) -> dbtRunnerResult:
    """Run dbt in this process against PGDATABASE and return its result, whatever it is."""
    target_path = target_path or shared_target_path()
    return dbtRunner().invoke(
        [
            *arguments,
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(DBT_PROFILES),
            "--target-path",
            str(target_path),
            "--log-path",
            str(target_path / "logs"),
            "--quiet",
        ]
    )


def query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg2.connect() as conn, conn.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description else []
    conn.close()
    return rows


def execute(sql: str, *params: Any) -> None:
    conn = psycopg2.connect()
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        conn.close()


# ------------------------------------------------------------------ expected, in Python


def parse_timestamp(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text).astimezone(UTC) if isinstance(text, str) else None
    except ValueError:
        return None


def rate(numerator: int, denominator: int) -> Decimal | None:
    if denominator == 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE, ROUND_HALF_UP)


def money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class RawLine:
    s3_key: str
    line_number: int
    payload: Any


def raw_lines() -> list[RawLine]:
    """Every line the loader put in staging.raw_events (the warehouse's input)."""
    return [
        RawLine(key, number, payload)
        for key, number, payload in query(
            "select s3_key, line_number, payload from staging.raw_events"
        )
    ]


def invalid_reasons(payload: Any) -> list[str]:
    """The contract's verdict (the ingest Lambda's own validator) plus the warehouse's rule
    on the client clock: event_timestamp at most 1 hour after received_at."""
    if not isinstance(payload, dict):
        return ["not an object"]
    event = {name: value for name, value in payload.items() if name != "ingest"}
    reasons = validate_event(event)
    ingest = payload.get("ingest")
    received_at = parse_timestamp(ingest.get("received_at")) if isinstance(ingest, dict) else None
    if received_at is None:
        reasons.append("received_at")
    happened_at = parse_timestamp(payload.get("event_timestamp"))
    if received_at and happened_at and happened_at > received_at + timedelta(hours=1):
        reasons.append("clock")
    return reasons


@dataclass
class Event:
    """A valid event, as clickstream_events should hold it."""

    event_id: str
    event_timestamp: datetime
    event_name: str
    session_id: str
    client_id: str
    user_id: str | None
    user_login_state: str
    is_first_visit: bool
    product_id: str | None
    product_name: str | None
    category: str | None
    brand: str | None
    price: Decimal | None
    discount_price: Decimal | None
    quantity: int | None
    order_currency: str | None
    order_id: str | None
    consent_state: str | None
    page_path: str | None
    referrer: str | None
    received_at: datetime
    s3_key: str
    line_number: int
    page_view_id: str | None = None
    utm: dict[str, Any] | None = None
    click_ids: dict[str, Any] | None = None
    ping: dict[str, Any] | None = None
    user_agent: str | None = None
    page_url: str | None = None
    page_title: str | None = None

    @property
    def event_date(self) -> date:
        return self.event_timestamp.date()

    @property
    def event_hour(self) -> datetime:
        return self.event_timestamp.replace(minute=0, second=0, microsecond=0)


def to_event(line: RawLine) -> Event:
    payload = line.payload
    context = payload.get("context") or {}
    product = context.get("product") or {}
    order = context.get("order") or {}
    page = payload.get("page") or {}
    user_id = payload.get("user_id")
    return Event(
        event_id=payload["event_id"].lower(),
        event_timestamp=parse_timestamp(payload["event_timestamp"]),  # type: ignore[arg-type]
        event_name=payload["event_name"],
        session_id=payload["session_id"],
        client_id=payload["client_id"],
        user_id=user_id,
        user_login_state=payload.get("user_login_state") or ("logged_in" if user_id else "guest"),
        is_first_visit=bool(payload.get("is_first_visit")),
        product_id=product.get("id"),
        product_name=product.get("name"),
        category=product.get("category"),
        brand=product.get("brand"),
        price=money(product.get("price")),
        discount_price=money(product.get("discount_price")),
        quantity=(product.get("quantity") or 1) if product else None,
        order_currency=order.get("currency"),
        order_id=order.get("order_id"),
        consent_state=payload.get("consent_state"),
        page_path=page.get("path"),
        referrer=page.get("referrer"),
        received_at=parse_timestamp(payload["ingest"]["received_at"]),  # type: ignore[arg-type]
        s3_key=line.s3_key,
        line_number=line.line_number,
        page_view_id=page.get("page_view_id"),
        utm=page.get("utm") or {},
        click_ids=page.get("click_ids") or {},
        ping=context.get("ping") or {},
        user_agent=payload["ingest"].get("user_agent"),
        page_url=page.get("url"),
        page_title=page.get("title"),
    )


@dataclass
class Expected:
    events: list[Event]
    invalid_lines: int
    duplicate_lines: int


def expected_events(lines: Iterable[RawLine]) -> Expected:
    """Classify every line, then keep the first received valid copy of each event_id."""
    invalid = 0
    valid: list[Event] = []
    for line in lines:
        if invalid_reasons(line.payload):
            invalid += 1
        else:
            valid.append(to_event(line))
    first: dict[str, Event] = {}
    for event in sorted(valid, key=lambda e: (e.received_at, e.s3_key, e.line_number)):
        first.setdefault(event.event_id, event)
    return Expected(list(first.values()), invalid, len(valid) - len(first))


@functools.cache
def is_bot(user_agent: str | None) -> bool:
    """The loader's verdict on a user agent (extract_load/user_agents.py: the library is the
    reference; what is tested here is that the warehouse applies it)."""
    if user_agent is None or len(user_agent) > MAX_USER_AGENT_LENGTH:
        return False
    return parse_user_agent(user_agent).is_bot


def _consented(event: Event, consented_data_only: bool) -> bool:
    return not (consented_data_only and event.consent_state == "denied")


def counted_in_marts(events: Iterable[Event], consented_data_only: bool = False) -> list[Event]:
    """The events the marts count (dbt_project/macros/consent.sql): never a consent_update,
    a page_ping or a bot's; with var consented_data_only, no event whose consent_state is
    'denied' either."""
    return [
        event
        for event in events
        if event.event_name not in (CONSENT_EVENT, PING_EVENT)
        and not is_bot(event.user_agent)
        and _consented(event, consented_data_only)
    ]


def counted_pings(events: Iterable[Event], consented_data_only: bool = False) -> list[Event]:
    """The page pings the engagement measures read: a person's (not a bot's)."""
    return [
        event
        for event in events
        if event.event_name == PING_EVENT
        and not is_bot(event.user_agent)
        and _consented(event, consented_data_only)
    ]


def expected_sessions(
    events: Iterable[Event], consented_data_only: bool = False
) -> dict[str, dict[str, Any]]:
    by_session: dict[str, list[Event]] = defaultdict(list)
    for event in counted_in_marts(events, consented_data_only):
        by_session[event.session_id].append(event)
    sessions = {}
    for session_id, session_events in by_session.items():
        ordered = sorted(session_events, key=lambda e: (e.event_timestamp, e.event_id))
        counts = dict.fromkeys(
            (name for name in EVENT_NAMES if name not in (CONSENT_EVENT, PING_EVENT)), 0
        )
        for event in ordered:
            counts[event.event_name] += 1
        users = [event.user_id for event in ordered if event.user_id is not None]
        start, end = ordered[0].event_timestamp, ordered[-1].event_timestamp
        sessions[session_id] = {
            "client_id": ordered[0].client_id,
            "user_id": users[-1] if users else None,
            "session_started_at": start,
            "session_ended_at": end,
            "session_date": start.date(),
            "session_duration_seconds": Decimal(str((end - start).total_seconds())),
            "events": len(ordered),
            **{f"{name}s": count for name, count in counts.items()},
            "entry_page_path": ordered[0].page_path,
            "referrer": ordered[0].referrer,
            "is_bounce": len(ordered) == 1,
            "is_first_visit": any(event.is_first_visit for event in ordered),
        }
    return sessions


FUNNEL_STEPS = ("page_view", "product_view", "add_to_cart", "checkout", "purchase")


def expected_funnel(sessions: Mapping[str, Mapping[str, Any]]) -> dict[date, dict[str, Any]]:
    days: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for session in sessions.values():
        day = days[session["session_date"]]
        day["sessions"] += 1
        for step in FUNNEL_STEPS:
            day[f"sessions_with_{step}"] += session[f"{step}s"] > 0
    funnel = {}
    for session_date, day in days.items():
        row: dict[str, Any] = {"sessions": day["sessions"]}
        row |= {f"sessions_with_{step}": day[f"sessions_with_{step}"] for step in FUNNEL_STEPS}
        row["product_view_rate"] = rate(row["sessions_with_product_view"], row["sessions"])
        row["add_to_cart_rate"] = rate(
            row["sessions_with_add_to_cart"], row["sessions_with_product_view"]
        )
        row["checkout_rate"] = rate(row["sessions_with_checkout"], row["sessions_with_add_to_cart"])
        row["purchase_rate"] = rate(row["sessions_with_purchase"], row["sessions_with_checkout"])
        row["session_conversion_rate"] = rate(row["sessions_with_purchase"], row["sessions"])
        funnel[session_date] = row
    return funnel


def expected_product_performance(
    events: Iterable[Event],
    reporting_currency: str = REPORTING_CURRENCY,
    consented_data_only: bool = False,
) -> dict[tuple[date, str], dict[str, Any]]:
    """Revenue in the reporting currency: purchases with no currency count in it, purchases
    in another currency count in purchases and units only."""
    names = {
        "product_view": "views",
        "add_to_cart": "add_to_carts",
        "remove_from_cart": "removes",
        "checkout": "checkouts",
        "purchase": "purchases",
    }
    rows: dict[tuple[date, str], dict[str, Any]] = {}
    for event in counted_in_marts(events, consented_data_only):
        if event.product_id is None:
            continue
        row = rows.setdefault(
            (event.event_date, event.product_id),
            {
                **dict.fromkeys(names.values(), 0),
                "units": 0,
                "revenue": Decimal("0.00"),
                "currency": reporting_currency,
                "purchases_in_other_currencies": 0,
            },
        )
        row[names[event.event_name]] += 1
        if event.event_name == "purchase":
            row["units"] += event.quantity
            if event.order_currency in (None, reporting_currency):
                price = event.discount_price if event.discount_price is not None else event.price
                row["revenue"] += (event.quantity or 1) * (price or Decimal(0))
            else:
                row["purchases_in_other_currencies"] += 1
    for row in rows.values():
        row["view_to_cart_rate"] = rate(row["add_to_carts"], row["views"])
        row["cart_to_purchase_rate"] = rate(row["purchases"], row["add_to_carts"])
    return rows


def expected_activity_hourly(
    events: Iterable[Event], consented_data_only: bool = False
) -> dict[tuple[datetime, str], tuple[int, ...]]:
    groups: dict[tuple[datetime, str], list[Event]] = defaultdict(list)
    for event in counted_in_marts(events, consented_data_only):
        groups[(event.event_hour, event.event_name)].append(event)
    return {
        key: (
            len(group),
            len({event.user_id or event.client_id for event in group}),
            len({event.session_id for event in group}),
        )
        for key, group in groups.items()
    }


def expected_activity_daily(
    events: Iterable[Event], consented_data_only: bool = False
) -> dict[date, tuple[int, ...]]:
    groups: dict[date, list[Event]] = defaultdict(list)
    for event in counted_in_marts(events, consented_data_only):
        groups[event.event_date].append(event)
    return {
        day: (
            len(group),
            len({event.user_id or event.client_id for event in group}),
            len({event.session_id for event in group}),
            len({e.user_id for e in group if e.user_login_state == "logged_in" and e.user_id}),
            len({event.client_id for event in group if event.is_first_visit}),
        )
        for day, group in groups.items()
    }


def expected_products(
    events: Iterable[Event], consented_data_only: bool = False
) -> dict[str, dict[str, Any]]:
    """dim_products: each attribute from the latest event carrying one."""
    by_product: dict[str, list[Event]] = defaultdict(list)
    for event in counted_in_marts(events, consented_data_only):
        if event.product_id is not None:
            by_product[event.product_id].append(event)
    products = {}
    for product_id, product_events in by_product.items():
        latest_first = sorted(
            product_events, key=lambda e: (e.event_timestamp, e.event_id), reverse=True
        )

        def latest(attribute: str, events: list[Event] = latest_first) -> Any:
            return next(
                (getattr(e, attribute) for e in events if getattr(e, attribute) is not None),
                None,
            )

        priced = next((e for e in latest_first if e.price is not None), None)
        products[product_id] = {
            "product_name": latest("product_name"),
            "category": latest("category"),
            "brand": latest("brand"),
            "price": priced.price if priced else None,
            "discount_price": priced.discount_price if priced else None,
            "first_seen_at": min(e.event_timestamp for e in product_events),
            "last_seen_at": max(e.event_timestamp for e in product_events),
        }
    return products


# ------------------------------------------------------------------ users (issue 11)


def expected_identity(events: Iterable[Event], consented_data_only: bool = False) -> dict[str, str]:
    """int_user_identity: each client's user_key, the first user_id it was seen with (by
    event_timestamp, then event_id), else 'anon:' || client_id."""
    by_client: dict[str, list[Event]] = defaultdict(list)
    for event in counted_in_marts(events, consented_data_only):
        by_client[event.client_id].append(event)
    identity = {}
    for client_id, client_events in by_client.items():
        logged_in = sorted(
            (e for e in client_events if e.user_id is not None),
            key=lambda e: (e.event_timestamp, e.event_id),
        )
        identity[client_id] = (logged_in[0].user_id if logged_in else None) or f"anon:{client_id}"
    return identity


def expected_orders(
    events: Iterable[Event],
    reporting_currency: str = REPORTING_CURRENCY,
    consented_data_only: bool = False,
) -> dict[str, dict[str, Any]]:
    """fct_orders: purchases grouped by order_id, else one order per session; the first
    line's session, client, time and currency; revenue over the lines in that currency."""
    counted = counted_in_marts(events, consented_data_only)
    identity = expected_identity(counted)
    lines: dict[str, list[Event]] = defaultdict(list)
    for event in counted:
        if event.event_name == "purchase":
            lines[event.order_id or f"session:{event.session_id}"].append(event)
    orders = {}
    for order_id, order_lines in lines.items():
        ordered = sorted(order_lines, key=lambda e: (e.event_timestamp, e.event_id))
        first = ordered[0]
        currency = first.order_currency or reporting_currency
        revenue = sum(
            (
                (e.quantity or 1)
                * ((e.discount_price if e.discount_price is not None else e.price) or Decimal(0))
                for e in ordered
                if (e.order_currency or reporting_currency) == currency
            ),
            Decimal("0.00"),
        )
        user_key = identity[first.client_id]
        orders[order_id] = {
            "session_id": first.session_id,
            "user_key": user_key,
            "client_id": first.client_id,
            "user_id": None if user_key.startswith("anon:") else user_key,
            "ordered_at": first.event_timestamp,
            "order_date": first.event_date,
            "items": len({e.product_id for e in ordered}),
            "units": sum(e.quantity or 1 for e in ordered),
            "revenue": money(revenue),
            "currency": currency,
        }
    return orders


def _events_by_user(events: Iterable[Event], consented_data_only: bool) -> dict[str, list[Event]]:
    counted = counted_in_marts(events, consented_data_only)
    identity = expected_identity(counted)
    by_user: dict[str, list[Event]] = defaultdict(list)
    for event in counted:
        by_user[identity[event.client_id]].append(event)
    return by_user


def expected_users(
    events: Iterable[Event],
    reporting_currency: str = REPORTING_CURRENCY,
    consented_data_only: bool = False,
) -> dict[str, dict[str, Any]]:
    """dim_users: one row per user_key, over all the events of all its clients."""
    events = list(events)
    orders = expected_orders(events, reporting_currency, consented_data_only)
    users = {}
    for user_key, user_events in _events_by_user(events, consented_data_only).items():
        ordered = sorted(user_events, key=lambda e: (e.event_timestamp, e.event_id))
        own_orders = [order for order in orders.values() if order["user_key"] == user_key]
        user_id = None if user_key.startswith("anon:") else user_key
        users[user_key] = {
            "user_id": user_id,
            "is_identified": user_id is not None,
            "clients": len({e.client_id for e in ordered}),
            "first_seen_at": ordered[0].event_timestamp,
            "last_seen_at": ordered[-1].event_timestamp,
            "first_session_id": ordered[0].session_id,
            "sessions": len({e.session_id for e in ordered}),
            "orders": len(own_orders),
            "revenue": money(
                sum(
                    (o["revenue"] for o in own_orders if o["currency"] == reporting_currency),
                    Decimal("0.00"),
                )
            ),
        }
    return users


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def expected_retention(
    events: Iterable[Event], consented_data_only: bool = False
) -> dict[tuple[date, int], tuple[int, int, Decimal | None]]:
    """fct_retention_weekly: (cohort_week, week 0..12) -> (cohort_users, active_users, rate)."""
    cohorts: dict[date, int] = defaultdict(int)
    active: dict[tuple[date, int], int] = defaultdict(int)
    for user_events in _events_by_user(events, consented_data_only).values():
        cohort = week_start(min(e.event_timestamp for e in user_events).date())
        cohorts[cohort] += 1
        for offset in {(week_start(e.event_date) - cohort).days // 7 for e in user_events}:
            if offset <= 12:
                active[(cohort, offset)] += 1
    return {
        (cohort, offset): (size, active[(cohort, offset)], rate(active[(cohort, offset)], size))
        for cohort, size in cohorts.items()
        for offset in range(13)
    }


def expected_users_daily(
    events: Iterable[Event], consented_data_only: bool = False
) -> dict[date, tuple[int, ...]]:
    """fct_users_daily: activity_date -> (users, new_users, returning_users, sessions,
    sessions_of_new_users, sessions_of_returning_users)."""
    users: dict[date, set[str]] = defaultdict(set)
    new_users: dict[date, set[str]] = defaultdict(set)
    sessions: dict[date, set[str]] = defaultdict(set)
    new_sessions: dict[date, set[str]] = defaultdict(set)
    for user_key, user_events in _events_by_user(events, consented_data_only).items():
        first_day = min(e.event_timestamp for e in user_events).date()
        for event in user_events:
            users[event.event_date].add(user_key)
            sessions[event.event_date].add(event.session_id)
            if event.event_date == first_day:
                new_users[event.event_date].add(user_key)
                new_sessions[event.event_date].add(event.session_id)
    return {
        day: (
            len(users[day]),
            len(new_users[day]),
            len(users[day] - new_users[day]),
            len(sessions[day]),
            len(new_sessions[day]),
            len(sessions[day] - new_sessions[day]),
        )
        for day in users
    }


def json_line(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))
