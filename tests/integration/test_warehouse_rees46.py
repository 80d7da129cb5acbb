"""Real data: the first 17,434 events of REES46's public e-commerce export (October 2019),
mapped into event contract v1, written as raw objects, loaded by the loader and built by dbt.
The funnel, product and hourly marts must equal figures computed here from the CSV alone.

Mapping (shared/data/rees46/README.md): view/cart/purchase -> product_view/add_to_cart/
purchase; event_id = uuid5 of the row's text, so the 5 exact duplicate rows share an id and
are deduplicated; user_session -> session_id and client_id (the export has no browser id:
each session is taken as a browser of its own, so identity stitching has real users with many
clients to join); user_id -> user_id; category_code/brand/price -> context.product;
received_at = event_time. The users marts (dim_users, fct_orders, fct_retention_weekly,
fct_users_daily) must equal figures computed here too."""

from __future__ import annotations

import csv
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from clickstream.config import Settings
from clickstream.raw_layout import encode_ndjson, format_timestamp, ingest_block, raw_object_key
from clickstream.storage import s3_client
from extract_load.loader import load_new_objects
from tests.integration.dbt_support import dbt, query

pytestmark = pytest.mark.slow

REES46_CSV = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "rees46" / "2019-Oct-head.csv"
)
EVENT_NAMES = {"view": "product_view", "cart": "add_to_cart", "purchase": "purchase"}
NAMESPACE = uuid.UUID("5d1c8f0e-4b1a-4f0c-9a57-7e2a2f8b1c01")
LINES_PER_OBJECT = 500
RATE = Decimal("0.0001")


def _rows() -> list[dict[str, str]]:
    with REES46_CSV.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _moment(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)


def _event_id(row: dict[str, str]) -> str:
    return str(uuid.uuid5(NAMESPACE, ",".join(row.values())))


def to_event(row: dict[str, str]) -> dict[str, Any]:
    product: dict[str, Any] = {"id": row["product_id"], "price": float(row["price"])}
    if row["category_code"]:
        product["category"] = row["category_code"]
    if row["brand"]:
        product["brand"] = row["brand"]
    return {
        "event_id": _event_id(row),
        "event_timestamp": format_timestamp(_moment(row["event_time"])),
        "event_name": EVENT_NAMES[row["event_type"]],
        "session_id": row["user_session"],
        "client_id": row["user_session"],
        "user_id": row["user_id"],
        "context": {"product": product},
    }


def _objects(rows: list[dict[str, str]]) -> Iterator[tuple[str, bytes]]:
    """Lines grouped by the hour of received_at (= event_time), LINES_PER_OBJECT an object."""
    prefix = Settings.from_env().raw_prefix
    by_hour: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for number, row in enumerate(rows):
        received_at = _moment(row["event_time"])
        block = ingest_block(received_at, f"rees46-{number // LINES_PER_OBJECT}", None, None)
        by_hour[raw_object_key(prefix, received_at, "x")[: -len("x.json")]].append(
            {**to_event(row), "ingest": block}
        )
    for hour_key, lines in by_hour.items():
        for start in range(0, len(lines), LINES_PER_OBJECT):
            yield (
                f"{hour_key}{start // LINES_PER_OBJECT:04d}.json",
                encode_ndjson(lines[start : start + LINES_PER_OBJECT]),
            )


def _rate(numerator: int, denominator: int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE, ROUND_HALF_UP)


@pytest.fixture(scope="module")
def distinct_rows() -> list[dict[str, str]]:
    """The CSV's rows, exact duplicates dropped (they share an event_id)."""
    seen: dict[str, dict[str, str]] = {}
    for row in _rows():
        seen.setdefault(_event_id(row), row)
    return list(seen.values())


@pytest.fixture(scope="module")
def built(module_warehouse_db: str, module_raw_bucket: str) -> None:
    client = s3_client()
    for key, body in _objects(_rows()):
        client.put_object(Bucket=module_raw_bucket, Key=key, Body=body)
    summary = load_new_objects(datetime(2019, 9, 30, tzinfo=UTC))
    assert summary.lines_loaded == 17_434
    dbt("build")


def test_every_row_is_accounted_for(built: None, distinct_rows: list[dict[str, str]]) -> None:
    assert len(distinct_rows) == 17_434 - 5
    assert query("select count(*) from public.clickstream_events") == [(len(distinct_rows),)]
    assert query("select count(*) from public.invalid_events") == [(0,)]


def test_the_funnel_matches_the_csv(built: None, distinct_rows: list[dict[str, str]]) -> None:
    sessions: dict[str, dict[str, Any]] = {}
    for row in distinct_rows:
        session = sessions.setdefault(
            row["user_session"], {"start": _moment(row["event_time"]), "types": set()}
        )
        session["start"] = min(session["start"], _moment(row["event_time"]))
        session["types"].add(row["event_type"])
    days: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for session in sessions.values():
        day = days[session["start"].date()]
        day["sessions"] += 1
        for event_type in ("view", "cart", "purchase"):
            day[event_type] += event_type in session["types"]
    expected = {
        day: (
            counts["sessions"], 0, counts["view"], counts["cart"], 0, counts["purchase"],
            _rate(counts["view"], counts["sessions"]), _rate(counts["cart"], counts["view"]),
            _rate(counts["purchase"], counts["sessions"]),
        )
        for day, counts in days.items()
    }  # fmt: skip
    actual = query(
        "select session_date, sessions, sessions_with_page_view, sessions_with_product_view,"
        " sessions_with_add_to_cart, sessions_with_checkout, sessions_with_purchase,"
        " product_view_rate, add_to_cart_rate, session_conversion_rate from public.fct_funnel_daily"
    )
    assert {row[0]: row[1:] for row in actual} == expected
    # real shoppers purchase without a cart event: "contains" steps, not a strict sequence
    assert sum(row[6] for row in actual) > sum(row[4] for row in actual)


def test_product_performance_matches_the_csv(
    built: None, distinct_rows: list[dict[str, str]]
) -> None:
    expected: dict[tuple[date, str], list[Any]] = {}
    for row in distinct_rows:
        key = (_moment(row["event_time"]).date(), row["product_id"])
        counts = expected.setdefault(key, [0, 0, 0, 0, Decimal("0.00")])
        index = {"view": 0, "cart": 1, "purchase": 2}[row["event_type"]]
        counts[index] += 1
        if row["event_type"] == "purchase":
            counts[3] += 1
            counts[4] += Decimal(row["price"])
    actual = query(
        "select event_date, product_id, views, add_to_carts, purchases, units, revenue,"
        " category, brand from public.fct_product_performance_daily"
    )
    assert {(row[0], row[1]): list(row[2:7]) for row in actual} == expected
    # names come from dim_products: the latest non-empty category and brand of the product
    latest: dict[str, tuple[str | None, str | None]] = {}
    for row in sorted(distinct_rows, key=lambda r: (r["event_time"], _event_id(r))):
        category, brand = latest.get(row["product_id"], (None, None))
        latest[row["product_id"]] = (row["category_code"] or category, row["brand"] or brand)
    assert {row[1]: (row[7], row[8]) for row in actual} == latest
    # the export has no currency: every purchase is in the revenue, in the reporting currency
    assert query(
        "select currency, sum(purchases_in_other_currencies)"
        " from public.fct_product_performance_daily group by currency"
    ) == [("EUR", 0)]


def test_hourly_activity_matches_the_csv(built: None, distinct_rows: list[dict[str, str]]) -> None:
    groups: dict[tuple[datetime, str], list[dict[str, str]]] = defaultdict(list)
    for row in distinct_rows:
        hour = _moment(row["event_time"]).replace(minute=0, second=0)
        groups[(hour, EVENT_NAMES[row["event_type"]])].append(row)
    expected = {
        key: (len(rows), len({r["user_id"] for r in rows}), len({r["user_session"] for r in rows}))
        for key, rows in groups.items()
    }
    actual = query(
        "select event_hour, event_name, events, users, sessions from public.fct_activity_hourly"
    )
    assert {(row[0], row[1]): row[2:] for row in actual} == expected


def _stitched(rows: list[dict[str, str]]) -> dict[str, str]:
    """Each client's (here: session's) user: the first user_id it was seen with (by
    event_time, then event_id). The export has sessions with rows of several user ids."""
    users: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: (r["event_time"], _event_id(r))):
        users.setdefault(row["user_session"], row["user_id"])
    return users


def _by_user(rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    stitched = _stitched(rows)
    users: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        users[stitched[row["user_session"]]].append(row)
    return users


def _orders(rows: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    """The export has no order id: one order per session with purchases."""
    stitched = _stitched(rows)
    orders: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (r["event_time"], _event_id(r))):
        if row["event_type"] != "purchase":
            continue
        order = orders.setdefault(
            f"session:{row['user_session']}",
            {
                "user_key": stitched[row["user_session"]],
                "ordered_at": _moment(row["event_time"]),
                "products": set(),
                "units": 0,
                "revenue": Decimal("0.00"),
            },
        )
        order["products"].add(row["product_id"])
        order["units"] += 1
        order["revenue"] += Decimal(row["price"])
    return orders


def test_orders_match_the_csv(built: None, distinct_rows: list[dict[str, str]]) -> None:
    expected = {
        order_id: (
            order["user_key"], order["ordered_at"], len(order["products"]), order["units"],
            order["revenue"], "EUR",
        )
        for order_id, order in _orders(distinct_rows).items()
    }  # fmt: skip
    actual = query(
        "select order_id, user_key, ordered_at, items, units, revenue, currency"
        " from public.fct_orders"
    )
    assert {row[0]: row[1:] for row in actual} == expected
    assert len(expected) > 50


def test_stitched_users_match_the_csv(built: None, distinct_rows: list[dict[str, str]]) -> None:
    orders = _orders(distinct_rows)
    expected = {}
    for user_id, rows in _by_user(distinct_rows).items():
        ordered = sorted(rows, key=lambda r: (r["event_time"], _event_id(r)))
        own = [order for order in orders.values() if order["user_key"] == user_id]
        sessions = {row["user_session"] for row in rows}
        expected[user_id] = (
            user_id, True, len(sessions), _moment(ordered[0]["event_time"]),
            _moment(ordered[-1]["event_time"]), ordered[0]["user_session"], len(sessions),
            len(own), sum((order["revenue"] for order in own), Decimal("0.00")),
        )  # fmt: skip
    actual = query(
        "select user_key, user_id, is_identified, clients, first_seen_at, last_seen_at,"
        " first_session_id, sessions, orders, revenue from public.dim_users"
    )
    assert {row[0]: row[1:] for row in actual} == expected
    # users with several browsers (sessions) joined into one: stitching did something
    assert sum(1 for row in expected.values() if row[2] > 1) > 100
    # the export has sessions seen with several user ids: each belongs to the first only
    user_ids_per_session: dict[str, set[str]] = defaultdict(set)
    for row in distinct_rows:
        user_ids_per_session[row["user_session"]].add(row["user_id"])
    assert any(len(user_ids) > 1 for user_ids in user_ids_per_session.values())


def test_retention_and_new_users_match_the_csv(
    built: None, distinct_rows: list[dict[str, str]]
) -> None:
    users = _by_user(distinct_rows)
    first_visits = {
        user_id: min(_moment(row["event_time"]) for row in rows) for user_id, rows in users.items()
    }
    cohorts: dict[date, set[str]] = defaultdict(set)
    for user_id, first_visit in first_visits.items():
        day = first_visit.date()
        cohorts[day - timedelta(days=day.weekday())].add(user_id)
    expected_retention = {}
    for cohort, members in cohorts.items():
        for offset in range(13):
            start, end = cohort + timedelta(weeks=offset), cohort + timedelta(weeks=offset + 1)
            active = {
                user_id
                for user_id in members
                if any(start <= _moment(row["event_time"]).date() < end for row in users[user_id])
            }
            expected_retention[(cohort, offset)] = (
                len(members),
                len(active),
                _rate(len(active), len(members)),
            )
    actual = query(
        "select cohort_week, weeks_since_first_visit, cohort_users, active_users, retention_rate"
        " from public.fct_retention_weekly"
    )
    assert {(row[0], row[1]): row[2:] for row in actual} == expected_retention
    stitched = _stitched(distinct_rows)
    days: dict[date, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in distinct_rows:
        day = _moment(row["event_time"]).date()
        user_id = stitched[row["user_session"]]
        is_new = first_visits[user_id].date() == day
        days[day]["users"].add(user_id)
        days[day]["new" if is_new else "returning"].add(user_id)
        days[day]["sessions"].add(row["user_session"])
        days[day]["new_sessions" if is_new else "returning_sessions"].add(row["user_session"])
    expected_daily = {
        day: tuple(
            len(sets[name])
            for name in (
                "users", "new", "returning", "sessions", "new_sessions", "returning_sessions"
            )
        )
        for day, sets in days.items()
    }  # fmt: skip
    actual = query(
        "select activity_date, users, new_users, returning_users, sessions,"
        " sessions_of_new_users, sessions_of_returning_users from public.fct_users_daily"
    )
    assert {row[0]: row[1:] for row in actual} == expected_daily
