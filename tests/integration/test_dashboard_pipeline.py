"""The contract between the warehouse build and the dashboards, end to end: a small hand-made
raw dataset goes through the real loader and the real dbt project, and the dashboards' data
functions show the numbers worked out by hand below."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from psycopg2.extensions import connection

from clickstream.config import Settings
from clickstream.raw_layout import encode_ndjson, format_timestamp, ingest_block, raw_object_key
from clickstream.storage import s3_client
from dashboard import app, queries
from dashboard.queries import DateRange, Money, ProductFilter
from devtools.dbt_cli import run_dbt
from extract_load.loader import load_new_objects

pytestmark = pytest.mark.slow

MONDAY = date(2026, 10, 5)
TUESDAY = date(2026, 10, 6)
LAPTOP = {
    "id": "laptop-1",
    "name": "Laptop",
    "category": "computers",
    "brand": "Acme",
    "price": 1000,
    "discount_price": 900,
}
MOUSE = {
    "id": "mouse-1",
    "name": "Mouse",
    "category": "accessories",
    "brand": "Clicky",
    "price": 20,
}


def _at(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _event(
    name: str,
    moment: datetime,
    session: str,
    client: str,
    *,
    user: str | None = None,
    first_visit: bool = False,
    product: dict[str, Any] | None = None,
    quantity: int = 1,
    event_id: str | None = None,
    currency: str = "EUR",
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": event_id or str(uuid.uuid4()),
        "event_timestamp": format_timestamp(moment),
        "event_name": name,
        "session_id": session,
        "client_id": client,
        "user_id": user,
        "is_first_visit": first_visit,
        "page": {"url": "https://shop.example.com/", "path": "/", "title": "Shop", "referrer": ""},
    }
    if product is not None:
        event["context"] = {"product": dict(product, quantity=quantity)}
    if name in ("checkout", "purchase"):
        event.setdefault("context", {})["order"] = {
            "order_id": f"order-{session}",
            "currency": currency,
        }
    return event


def _sessions() -> list[list[dict[str, Any]]]:
    """Four sessions: what each does is what the assertions count."""
    s1 = [  # Monday: a first-time guest buys the laptop (revenue 900: the discount price),
        # then a mouse paid in USD: a purchase event and a unit, not EUR revenue
        _event("page_view", _at(MONDAY, 10, 0), "s1", "c1", first_visit=True),
        _event("product_view", _at(MONDAY, 10, 1), "s1", "c1", first_visit=True, product=LAPTOP),
        _event("add_to_cart", _at(MONDAY, 10, 2), "s1", "c1", first_visit=True, product=LAPTOP),
        _event("checkout", _at(MONDAY, 10, 3), "s1", "c1", first_visit=True),
        _event("purchase", _at(MONDAY, 10, 4), "s1", "c1", first_visit=True, product=LAPTOP),
        _event(
            "purchase", _at(MONDAY, 10, 5), "s1", "c1", first_visit=True, product=MOUSE,
            currency="USD",
        ),
    ]  # fmt: skip
    s2 = [  # Monday: a logged-in user puts the mouse in the cart and takes it out again
        _event("page_view", _at(MONDAY, 11, 0), "s2", "c2", user="u2"),
        _event("product_view", _at(MONDAY, 11, 1), "s2", "c2", user="u2", product=MOUSE),
        _event("add_to_cart", _at(MONDAY, 11, 2), "s2", "c2", user="u2", product=MOUSE),
        _event("remove_from_cart", _at(MONDAY, 11, 3), "s2", "c2", user="u2", product=MOUSE),
    ]
    s3 = [  # Monday: a first-time guest leaves after one page
        _event("page_view", _at(MONDAY, 12, 0), "s3", "c3", first_visit=True),
    ]
    s4 = [  # Tuesday: the first guest comes back, looks at both, buys two mice (revenue 40)
        _event("page_view", _at(TUESDAY, 9, 0), "s4", "c1"),
        _event("product_view", _at(TUESDAY, 9, 1), "s4", "c1", product=LAPTOP),
        _event("product_view", _at(TUESDAY, 9, 2), "s4", "c1", product=MOUSE),
        _event("add_to_cart", _at(TUESDAY, 9, 3), "s4", "c1", product=MOUSE, quantity=2),
        _event("checkout", _at(TUESDAY, 9, 4), "s4", "c1"),
        _event("purchase", _at(TUESDAY, 9, 5), "s4", "c1", product=MOUSE, quantity=2),
    ]
    return [s1, s2, s3, s4]


def _put(bucket: str, received_at: datetime, body: bytes) -> None:
    key = raw_object_key(Settings.from_env().raw_prefix, received_at)
    s3_client().put_object(Bucket=bucket, Key=key, Body=body)


def _write_raw_objects(bucket: str) -> None:
    sessions = _sessions()
    for session in sessions:  # one ingest request (object) per session
        received_at = datetime.fromisoformat(session[-1]["event_timestamp"]) + timedelta(seconds=2)
        block = ingest_block(received_at, str(uuid.uuid4()), "203.0.113.9", "pytest")
        _put(bucket, received_at, encode_ndjson([dict(e, ingest=block) for e in session]))
    # Tuesday's odd object: s3's page view sent again (a duplicate), an event that breaks
    # the contract (invalid) and a line that is not JSON (rejected by the loader).
    received_at = _at(TUESDAY, 9, 30)
    block = ingest_block(received_at, str(uuid.uuid4()), "203.0.113.9", "pytest")
    again = dict(sessions[2][0], ingest=block)
    broken = dict(_event("page_view", _at(TUESDAY, 9, 20), "s5", "c5"), event_name="bogus")
    body = encode_ndjson([again, dict(broken, ingest=block)]) + b"{not json\n"
    _put(bucket, received_at, body)


def _dbt_run(work_dir: Path) -> None:
    """The working tree's dbt project, with its own target and log folders (another dbt run
    may be using dbt_project/target)."""
    paths = ("--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs"))
    run_dbt("seed", *paths, "--quiet")  # the channel grouping reads the seed channel_sources
    run_dbt("run", *paths, "--quiet")


@pytest.fixture(scope="module")
def built(
    module_warehouse_db: str, module_raw_bucket: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[connection]:
    _write_raw_objects(module_raw_bucket)
    summary = load_new_objects(_at(MONDAY, 0, 0), _at(TUESDAY, 23, 0))
    assert (summary.objects, summary.lines_loaded, summary.lines_rejected) == (5, 19, 1)
    _dbt_run(tmp_path_factory.mktemp("dbt"))
    with queries.warehouse() as conn:
        yield conn


BOTH_DAYS = DateRange(MONDAY, TUESDAY)


def test_the_date_range_and_funnel_come_out_of_dbt_as_counted(built: connection) -> None:
    assert queries.data_date_range(built) == BOTH_DAYS
    funnel = queries.funnel_summary(built, BOTH_DAYS)
    assert funnel.sessions == 4
    assert [step.sessions for step in funnel.steps] == [4, 3, 3, 2, 2]
    assert funnel.session_conversion_rate == 0.5
    monday = queries.funnel_summary(built, DateRange(MONDAY, MONDAY))
    assert (monday.sessions, monday.steps[-1].sessions) == (3, 1)
    days = queries.funnel_daily(built, BOTH_DAYS)
    assert [(day.session_date, day.sessions) for day in days] == [(MONDAY, 3), (TUESDAY, 1)]
    assert days[0].add_to_cart_rate == 1.0  # both product-viewing sessions added to the cart


def test_products_come_out_of_dbt_as_counted(built: connection) -> None:
    totals = queries.product_totals(built, BOTH_DAYS, ProductFilter())
    assert (totals.products, totals.views, totals.add_to_carts) == (2, 4, 3)
    assert (totals.removes, totals.purchases, totals.units) == (1, 3, 4)
    # Revenue in EUR, dbt's default reporting currency, without the USD purchase.
    assert totals.revenue == (Money("EUR", Decimal("940.00")),)
    assert totals.purchases_in_other_currencies == 1  # the mouse paid in USD
    top = queries.top_products(built, BOTH_DAYS, ProductFilter(), by="revenue")
    assert [(row.product_id, row.ranked_revenue, row.units) for row in top] == [
        ("laptop-1", Money("EUR", Decimal("900.00")), 1),
        ("mouse-1", Money("EUR", Decimal("40.00")), 3),
    ]
    page = str(app.products_page(built, BOTH_DAYS, ProductFilter(), "revenue"))
    assert '<span id="kpi-revenue">EUR 940.00</span>' in page
    assert "1 purchase event in another currency than EUR is not in the revenue" in page
    assert queries.product_categories(built) == ["accessories", "computers"]
    mice = queries.product_totals(built, BOTH_DAYS, ProductFilter(brand="Clicky"))
    assert (mice.views, mice.add_to_carts, mice.purchases) == (2, 2, 2)
    assert mice.purchases_in_other_currencies == 1


def test_activity_comes_out_of_dbt_as_counted(built: connection) -> None:
    days = queries.active_days(built, BOTH_DAYS)
    assert [(d.event_date, d.events, d.users, d.sessions) for d in days] == [
        (MONDAY, 11, 3, 3),
        (TUESDAY, 6, 1, 1),
    ]
    assert (days[0].logged_in_users, days[0].new_clients) == (1, 2)
    per_day = {(c.period, c.event_name): c.events for c in queries.events_per_day(built, BOTH_DAYS)}
    assert per_day[(MONDAY, "page_view")] == 3
    assert per_day[(TUESDAY, "product_view")] == 2
    heatmap = queries.weekly_heatmap(built, BOTH_DAYS)
    assert [(cell.day_of_week, cell.hour_of_day, cell.events) for cell in heatmap] == [
        (1, 10, 6),
        (1, 11, 4),
        (1, 12, 1),
        (2, 9, 6),
    ]


def test_data_health_reconciles_the_raw_lines(built: connection) -> None:
    health = queries.data_health(built)
    assert (health.objects_loaded, health.lines_loaded, health.lines_rejected) == (5, 19, 1)
    assert (health.valid_events, health.invalid_events, health.duplicate_events) == (17, 1, 1)
    assert health.rejected_events == 1
    assert health.latest_event_at == _at(TUESDAY, 9, 0)
    page = str(app.health_page(built))
    assert '<span id="kpi-valid">17</span>' in page
    assert "Fresh: the last load was" in page
