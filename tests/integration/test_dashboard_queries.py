"""The dashboards' data functions and pages against a real PostgreSQL holding a small known
warehouse (tests/dashboard_data.py): the exact numbers the pages show."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from psycopg2.extensions import connection

from clickstream.config import Settings
from clickstream.errors import WarehouseUnreachableError
from clickstream.warehouse import connect
from dashboard import app, queries
from dashboard.queries import (
    CohortWeek,
    DateRange,
    DayEvents,
    EventCount,
    HeatmapCell,
    Money,
    ProductFilter,
    TrafficFilter,
)
from tests import dashboard_data
from tests.integration import acquisition_support, dbt_support
from tests.support import temporary_bucket, temporary_database

ALL_DAYS = DateRange(dashboard_data.FIRST_DAY, dashboard_data.LAST_DAY)
WITH_STRAY_DAY = DateRange(dashboard_data.FIRST_DAY, dashboard_data.STRAY_DAY)
SECOND_DAY = DateRange(date(2026, 11, 2), date(2026, 11, 2))
THIRD_DAY = DateRange(date(2026, 11, 3), date(2026, 11, 3))


@pytest.fixture(scope="module")
def known(module_warehouse_db: str) -> Iterator[connection]:
    """A read-only dashboard connection to the known warehouse."""
    with connect() as conn:
        dashboard_data.create_marts(conn)
        dashboard_data.fill_known_data(conn)
    conn.close()
    with queries.warehouse() as conn:
        yield conn


def kpi_values(page: str) -> dict[str, str]:
    """Every KPI value on a rendered page, by its id without `kpi-` (app.kpi)."""
    return dict(re.findall(r'<span id="kpi-([\w-]+)"[^>]*>([^<]*)</span>', page))


def assert_kpis(page: str, expected: dict[str, str]) -> None:
    """The page shows these KPI values (among others)."""
    shown = kpi_values(page)
    assert {name: shown.get(name) for name in expected} == expected


def eur(amount: str) -> Money:
    return Money("EUR", Decimal(amount))


def test_the_date_filter_defaults_to_the_full_days_not_a_next_day_of_stray_events(
    known: connection,
) -> None:
    # 2026-11-04 holds 2 late events (the busiest day has 23): a partial day at the end.
    assert queries.data_date_range(known) == WITH_STRAY_DAY
    dates = queries.data_dates(known)
    assert dates is not None
    assert (dates.every_day, dates.default) == (WITH_STRAY_DAY, ALL_DAYS)
    assert dates.partial_days == (DayEvents(dashboard_data.STRAY_DAY, 2),)
    assert dates.left_out_of_default == dates.partial_days
    note = str(app.describe_data(dates))
    assert "Events from 2026-11-01 to 2026-11-04." in note
    assert "2026-11-04 (2 events)" in note


def test_a_partial_day_is_under_a_tenth_of_the_busiest_day_near_it() -> None:
    days = [("mon", 2000), ("tue", 2100), ("wed", 210), ("thu", 209), ("fri", 3)]
    full, partial = queries.split_partial_days(days, lambda day: day[1])
    assert [day for day, _ in full] == ["mon", "tue", "wed"]
    assert [day for day, _ in partial] == ["thu", "fri"]
    assert queries.split_partial_days([], lambda day: 0) == ([], [])


def test_a_growing_shop_has_no_partial_days_but_its_stray_next_day() -> None:
    # 30 days growing 15% a day (66x over the month), then 4 late events on the next day.
    days = [(day, round(100 * 1.15**day)) for day in range(30)] + [(30, 4)]
    full, partial = queries.split_partial_days(days, lambda day: day[1])
    assert [day for day, _ in full] == list(range(30))
    assert partial == [(30, 4)]


def test_stray_events_do_not_distort_the_activity_per_day_figures(known: connection) -> None:
    page = str(app.activity_page(known, WITH_STRAY_DAY))
    # Every event counts in the total; sessions a day: (8 + 10 + 2) / 3 full days, not
    # (8 + 10 + 2 + 1) / 4.
    assert_kpis(page, {"events": "51", "days": "3", "daily-sessions": "7"})
    assert "and 1 partial day" in page
    assert "Partial day, left out of" in page
    assert "2026-11-04 (2 events)" in page
    without_stray = str(app.activity_page(known, ALL_DAYS))
    assert_kpis(without_stray, {"daily-sessions": "7"})
    assert "partial" not in without_stray.lower()


def test_funnel_sums_the_days_and_rates_each_step_against_the_previous(
    known: connection,
) -> None:
    summary = queries.funnel_summary(known, ALL_DAYS)
    assert summary.sessions == 350
    assert [(step.step, step.sessions) for step in summary.steps] == [
        ("page_view", 335),
        ("product_view", 190),
        ("add_to_cart", 60),
        ("checkout", 26),
        ("purchase", 13),
    ]
    rates = [step.step_rate for step in summary.steps]
    assert rates == pytest.approx([335 / 350, 190 / 335, 60 / 190, 26 / 60, 0.5])
    assert summary.steps[-1].overall_rate == pytest.approx(13 / 350)
    assert summary.session_conversion_rate == pytest.approx(13 / 350)

    second_day = queries.funnel_summary(known, SECOND_DAY)
    assert (second_day.sessions, second_day.steps[-1].sessions) == (200, 8)


def test_funnel_trend_has_a_row_per_day_and_no_rate_without_a_denominator(
    known: connection,
) -> None:
    days = queries.funnel_daily(known, ALL_DAYS)
    assert [day.session_date for day in days] == [date(2026, 11, d) for d in (1, 2, 3)]
    assert days[0].session_conversion_rate == pytest.approx(0.05)
    assert days[1].add_to_cart_rate == pytest.approx(0.4)
    third = days[2]
    assert third.add_to_cart_rate == 0  # no carts out of 30 product-viewing sessions
    assert (third.checkout_rate, third.purchase_rate) == (None, None)  # 0 / 0


EVERY_SESSION = queries.EVERY_SESSION
PAID_SEARCH = TrafficFilter(channel="Paid Search")
MOBILE = TrafficFilter(device_class="mobile")


def test_the_funnel_follows_the_channel_and_device_filter(known: connection) -> None:
    paid = queries.funnel_summary(known, ALL_DAYS, PAID_SEARCH)
    assert paid.sessions == 90
    assert [step.sessions for step in paid.steps] == [86, 55, 23, 10, 7]
    assert paid.session_conversion_rate == pytest.approx(7 / 90)
    mobile = queries.funnel_summary(known, ALL_DAYS, MOBILE)
    assert (mobile.sessions, mobile.steps[0].sessions, mobile.steps[-1].sessions) == (250, 241, 9)
    both = TrafficFilter(channel="Paid Search", device_class="desktop")
    assert queries.funnel_summary(known, ALL_DAYS, both).sessions == 30
    assert queries.funnel_summary(known, ALL_DAYS, TrafficFilter(channel="Display")).sessions == 0
    days = queries.funnel_daily(known, ALL_DAYS, PAID_SEARCH)
    assert [(day.session_date.day, day.sessions) for day in days] == [(1, 30), (2, 60)]
    assert days[1].session_conversion_rate == pytest.approx(4 / 60)
    assert days[1].add_to_cart_rate == pytest.approx(15 / 35)
    # Every session split by channel and device adds up to the funnel of every session.
    everything = queries.funnel_summary(known, ALL_DAYS)
    by_channel = [
        queries.funnel_summary(known, ALL_DAYS, TrafficFilter(c)) for c in queries.CHANNELS
    ]
    for index in range(len(queries.FUNNEL_STEPS)):
        assert sum(f.steps[index].sessions for f in by_channel) == everything.steps[index].sessions

    page = str(app.funnel_page(known, ALL_DAYS, PAID_SEARCH))
    assert_kpis(page, {"sessions": "90", "conversion": "7.8%", "purchasing-sessions": "7"})
    assert "Only Paid Search sessions (the sidebar" in page
    assert "No Display sessions on tablet between 2026-11-01 and 2026-11-03" in str(
        app.funnel_page(known, ALL_DAYS, TrafficFilter("Display", "tablet"))
    )


def _by(rows: list[queries.TrafficRow]) -> list[tuple[str, int, int, Decimal]]:
    return [
        (row.label, row.sessions, row.sessions_with_purchase, row.revenue.amount) for row in rows
    ]


def test_acquisition_totals_and_breakdowns(known: connection) -> None:
    totals = queries.traffic_totals(known, ALL_DAYS)
    assert (totals.sessions, totals.sessions_with_purchase, totals.orders) == (350, 13, 13)
    assert totals.revenue == eur("10200.50")  # the Products page's revenue of these days
    assert (totals.bounces, totals.engaged_seconds) == (75, 19100)
    assert totals.revenue_per_session == Money("EUR", Decimal("10200.50") / 350)
    assert totals.average_order_value == Money("EUR", Decimal("10200.50") / 13)

    def breakdown(by: queries.TrafficDimension, **options: object) -> list[queries.TrafficRow]:
        return queries.traffic_breakdown(known, ALL_DAYS, by, **options)  # type: ignore[arg-type]

    assert _by(breakdown("channel")) == [
        ("Organic Search", 140, 5, Decimal("5000.00")),
        ("Paid Search", 90, 7, Decimal("5140.50")),
        ("Email", 50, 1, Decimal("60.00")),  # ties by name
        ("Social", 50, 0, Decimal("0.00")),
        ("Direct", 20, 0, Decimal("0.00")),
    ]
    paid = breakdown("channel")[1]
    assert (paid.conversion_rate, paid.bounce_rate) == pytest.approx((7 / 90, 7 / 90))
    assert paid.engaged_seconds_per_session == pytest.approx(6600 / 90)
    assert paid.average_order_value == Money("EUR", Decimal("5140.50") / 7)
    assert [(row.label, row.sessions) for row in breakdown("source_medium")] == [
        ("(not set) / (not set)", 160),
        ("google / cpc", 90),
        ("facebook / social", 50),
        ("newsletter / email", 50),
    ]
    assert [(row.label, row.sessions) for row in breakdown("campaign")] == [
        ("(not set)", 210),
        ("black-friday", 90),
        ("november-news", 50),
    ]
    assert [(row.label, row.sessions) for row in breakdown("landing_page", limit=2)] == [
        ("/", 210),
        ("/product/laptop-pro-14", 90),
    ]
    assert [(row.label, row.sessions) for row in breakdown("device_class")] == [
        ("mobile", 250),
        ("desktop", 50),
        ("tablet", 50),
    ]
    assert [(row.label, row.sessions) for row in breakdown("browser_family")] == [
        ("Chrome", 210),
        ("Safari", 110),
        ("Firefox", 30),
    ]
    assert [(row.label, row.sessions) for row in breakdown("channel", where=MOBILE)] == [
        ("Organic Search", 140),
        ("Paid Search", 60),
        ("Social", 50),
    ]
    with pytest.raises(ValueError, match="cannot break traffic down by 'country'"):
        breakdown("country")  # type: ignore[arg-type]


def test_acquisition_by_day_and_channel(known: connection) -> None:
    days = queries.traffic_by_day(known, ALL_DAYS)
    assert [(day.session_date.day, day.channel, day.sessions) for day in days] == [
        (1, "Direct", 20),
        (1, "Organic Search", 50),
        (1, "Paid Search", 30),
        (2, "Email", 50),
        (2, "Organic Search", 90),
        (2, "Paid Search", 60),
        (3, "Social", 50),
    ]
    together = queries.days_together(days)
    assert [(d.session_date.day, d.channel, d.sessions, d.orders, d.revenue) for d in together] == [
        (1, None, 100, 5, eur("5080.00")),
        (2, None, 200, 8, eur("5120.50")),
        (3, None, 50, 0, eur("0.00")),
    ]
    assert together[2].average_order_value is None  # no order that day
    paid = queries.traffic_by_day(known, SECOND_DAY, PAID_SEARCH)
    assert [(day.channel, day.sessions, day.revenue) for day in paid] == [
        ("Paid Search", 60, eur("2060.50"))
    ]


def test_audience_new_returning_and_cohorts(known: connection) -> None:
    days = queries.users_daily(known, ALL_DAYS)
    assert [(d.activity_date.day, d.users, d.new_users, d.returning_users) for d in days] == [
        (1, 7, 4, 3),
        (2, 9, 3, 6),
        (3, 2, 1, 1),
    ]
    # The data ends on 2026-11-04: the week of 2 November is in progress, later ones not there.
    cohorts = queries.retention_cohorts(known, ALL_DAYS, dashboard_data.STRAY_DAY)
    assert [(c.cohort_week, c.users, c.weeks) for c in cohorts] == [
        (
            date(2026, 10, 26),
            4,
            (CohortWeek(0, 4, 1.0, "complete"), CohortWeek(1, 3, 0.75, "in progress")),
        ),
        (date(2026, 11, 2), 4, (CohortWeek(0, 4, 1.0, "in progress"),)),
    ]
    assert queries.week_retention(cohorts, 1).rate is None  # no cohort has a whole week 1
    # Had the data reached Sunday 8 November, the first cohort's week 1 would be complete.
    later = queries.retention_cohorts(known, ALL_DAYS, date(2026, 11, 8))
    week_one = queries.week_retention(later, 1)
    assert (week_one.cohorts, week_one.users, week_one.active_users) == (1, 4, 3)
    assert week_one.rate == 0.75
    assert [
        c.cohort_week for c in queries.retention_cohorts(known, SECOND_DAY, date(2026, 11, 4))
    ] == [date(2026, 11, 2)]


def test_the_acquisition_and_audience_pages_show_the_numbers(known: connection) -> None:
    acquisition = str(app.acquisition_page(known, ALL_DAYS, queries.EVERY_SESSION))
    assert_kpis(
        acquisition,
        {
            "sessions": "350",
            "conversion": "3.7%",
            "orders": "13",
            "revenue": "EUR 10.2k",
            "revenue-per-session": "EUR 29.14",
            "bounce-rate": "21.4%",
            "engaged-time": "55 s",
        },
    )
    for table_id in ("channels", "sources", "campaigns", "landing-pages", "devices", "browsers"):
        assert f'id="{table_id}-table"' in acquisition
    assert "google / cpc" in acquisition
    assert 'id="chart-channel-days"' in acquisition
    mobile = str(app.acquisition_page(known, ALL_DAYS, MOBILE))
    assert_kpis(mobile, {"sessions": "250", "orders": "9"})
    assert "Only sessions on mobile" in mobile

    audience = str(app.audience_page(known, ALL_DAYS, queries.EVERY_SESSION))
    assert_kpis(
        audience,
        {
            "new-users": "8",
            "returning-users": "3",  # (3 + 6 + 1) / 3
            "returning-sessions": "63.6%",  # 14 of 22
            "week-1-retention": app.MISSING,
            "orders": "13",
            "aov": "EUR 784.65",
            "revenue-per-session": "EUR 29.14",
        },
    )
    assert "no cohort in these dates has a complete week 1 yet (the data ends 2026-11-04)" in (
        audience
    )
    assert 'id="retention-table"' in audience
    assert "75.0%*" in audience
    paid = str(app.audience_page(known, ALL_DAYS, PAID_SEARCH))
    assert_kpis(paid, {"new-users": "8", "orders": "7", "aov": "EUR 734.36"})
    assert "only Paid Search sessions (the sidebar's filter)" in paid
    with_stray_day = str(app.audience_page(known, WITH_STRAY_DAY, queries.EVERY_SESSION))
    assert "2026-11-04 (1 sessions)" in with_stray_day  # left out of the mean
    assert_kpis(with_stray_day, {"new-users": "8", "returning-users": "3"})


def test_product_totals_follow_the_category_and_brand_filters(known: connection) -> None:
    everything = queries.product_totals(known, ALL_DAYS, ProductFilter())
    assert (everything.products, everything.views, everything.add_to_carts) == (3, 155, 33)
    assert (everything.purchases, everything.units) == (15, 17)
    assert everything.revenue == (eur("10200.50"),)
    assert everything.purchases_in_other_currencies == 1
    assert everything.view_to_cart_rate == pytest.approx(33 / 155)
    assert everything.cart_to_purchase_rate == pytest.approx(15 / 33)

    accessories = queries.product_totals(known, ALL_DAYS, ProductFilter(category="accessories"))
    assert (accessories.products, accessories.views, accessories.revenue) == (
        2,
        65,
        (eur("200.50"),),
    )
    acme = queries.product_totals(known, ALL_DAYS, ProductFilter(brand="Acme"))
    assert (acme.products, acme.views, acme.revenue) == (2, 115, (eur("10120.50"),))
    assert acme.purchases_in_other_currencies == 0
    nothing = queries.product_totals(
        known, THIRD_DAY, ProductFilter(category="computers", brand="Acme")
    )
    assert (nothing.products, nothing.views, nothing.view_to_cart_rate) == (0, 0, None)
    assert nothing.revenue == ()


def test_top_products_rank_by_the_chosen_metric(known: connection) -> None:
    by_views = queries.top_products(known, ALL_DAYS, ProductFilter(), by="views")
    assert [(row.product_id, row.views) for row in by_views] == [
        ("p1", 90),
        ("p2", 40),
        ("p3", 25),
    ]
    laptop = by_views[0]
    assert (laptop.product_name, laptop.category, laptop.brand) == (
        "Laptop Pro 14",
        "computers",
        "Acme",
    )
    assert laptop.view_to_cart_rate == pytest.approx(22 / 90)
    assert laptop.cart_to_purchase_rate == pytest.approx(9 / 22)

    by_revenue = queries.top_products(known, ALL_DAYS, ProductFilter(), by="revenue")
    assert [(row.product_id, row.revenue, row.ranked_revenue) for row in by_revenue] == [
        ("p1", (eur("10000.00"),), eur("10000.00")),
        ("p3", (eur("120.50"),), eur("120.50")),
        ("p2", (eur("80.00"),), eur("80.00")),
    ]
    top_two = queries.top_products(known, ALL_DAYS, ProductFilter(), by="purchases", limit=2)
    assert [(row.product_id, row.purchases) for row in top_two] == [("p1", 9), ("p2", 4)]
    with pytest.raises(ValueError, match="cannot rank products by 'price'"):
        queries.top_products(known, ALL_DAYS, ProductFilter(), by="price")  # type: ignore[arg-type]


def test_filter_choices_come_from_the_products_dimension(known: connection) -> None:
    assert queries.product_categories(known) == ["accessories", "computers"]
    assert queries.product_brands(known) == ["Acme", "Clicky"]
    assert queries.product_brands(known, "computers") == ["Acme"]


def test_activity_counts_by_hour_day_and_weekday(known: connection) -> None:
    hours = queries.events_per_hour(known, ALL_DAYS)
    assert len(hours) == len(dashboard_data.HOURS) - 2  # not the 2 hours of 2026-11-04
    assert sum(hour.events for hour in hours) == dashboard_data.VALID_EVENTS - 2
    # The range ends at the end of its last UTC day: 23:00 is in, midnight after is not.
    assert queries.events_per_hour(known, SECOND_DAY) == [
        EventCount(datetime(2026, 11, 2, 9, tzinfo=UTC), "page_view", 20),
        EventCount(datetime(2026, 11, 2, 23, tzinfo=UTC), "add_to_cart", 3),
    ]
    assert queries.events_per_day(known, ALL_DAYS) == [
        EventCount(date(2026, 11, 1), "page_view", 16),
        EventCount(date(2026, 11, 1), "product_view", 4),
        EventCount(date(2026, 11, 1), "purchase", 1),
        EventCount(date(2026, 11, 2), "add_to_cart", 3),
        EventCount(date(2026, 11, 2), "page_view", 20),
        EventCount(date(2026, 11, 3), "page_view", 5),
    ]
    assert queries.weekly_heatmap(known, ALL_DAYS) == [
        HeatmapCell(1, 9, 20),  # Monday 2 November
        HeatmapCell(1, 23, 3),
        HeatmapCell(2, 0, 5),
        HeatmapCell(7, 9, 14),  # Sunday 1 November
        HeatmapCell(7, 10, 7),
    ]
    days = queries.active_days(known, ALL_DAYS)
    assert [(d.event_date.day, d.users, d.sessions, d.new_clients) for d in days] == [
        (1, 7, 8, 3),
        (2, 9, 10, 5),
        (3, 2, 2, 1),
    ]


def test_data_health_reconciles_loaded_lines_with_the_marts(known: connection) -> None:
    health = queries.data_health(known)
    assert (health.objects_loaded, health.lines_loaded, health.lines_rejected) == (4, 57, 1)
    assert (health.valid_events, health.invalid_events, health.duplicate_events) == (51, 2, 4)
    assert health.rejected_events == 1
    assert health.latest_event_at == datetime(2026, 11, 4, 1, tzinfo=UTC)
    # The newest run found no new object: it is there, with zeros, and it is the last load.
    assert [
        (load.objects, load.lines_loaded, load.lines_rejected) for load in health.recent_loads
    ] == [
        (0, 0, 0),
        (1, 4, 0),
        (1, 3, 0),
        (2, 50, 1),
    ]
    assert health.recent_loads[0].load_id == dashboard_data.EMPTY_LOAD_ID
    assert health.load_age is not None
    assert timedelta(minutes=29) < health.load_age < timedelta(minutes=35)


def test_pages_show_the_numbers(known: connection) -> None:
    funnel = str(app.funnel_page(known, ALL_DAYS))
    assert_kpis(
        funnel,
        {
            "sessions": "350",
            "conversion": "3.7%",
            "purchase-rate": "50.0%",
            "purchasing-sessions": "13",
        },
    )
    assert "Sessions with a purchase: sessions that contain at least one purchase event" in funnel
    products = str(app.products_page(known, ALL_DAYS, ProductFilter(), "revenue"))
    assert_kpis(products, {"revenue": "EUR 10.2k", "purchases": "15", "units": "17"})
    assert "EUR 10,200.50" in products  # in full, under the short figure
    assert "Purchase events" in products
    assert "1 purchase event in another currency than EUR is not in the revenue" in products
    assert "Laptop Pro 14 (p1)" in products
    activity = str(app.activity_page(known, SECOND_DAY))
    assert_kpis(activity, {"events": "23"})
    health = str(app.health_page(known))
    assert_kpis(health, {"duplicates": "4"})
    assert "Fresh: the last load was 30 min ago." in health
    assert "0 (nothing new)" in health
    assert "Lines per loader run" in health
    assert "Last 4 loader runs" in health


def test_one_day_shows_its_hours_and_says_why_there_is_no_trend(known: connection) -> None:
    activity = str(app.activity_page(known, SECOND_DAY))
    assert 'id="one-day-note"' in activity
    assert "One day only (2026-11-02)" in activity
    assert 'id="chart-hourly"' in activity
    for per_day_chart in ("chart-daily", "chart-heatmap", "chart-active"):
        assert per_day_chart not in activity
    funnel = str(app.funnel_page(known, SECOND_DAY))
    assert 'id="trend-note"' in funnel
    assert "chart-conversion" not in funnel
    several_days = str(app.activity_page(known, ALL_DAYS))
    assert "one-day-note" not in several_days
    assert 'id="chart-active"' in several_days


def test_revenue_in_two_currencies_is_never_added_up(warehouse_db: str) -> None:
    """The reporting currency changed from EUR to USD between two days: each currency is
    shown on its own and products rank by the latest day's currency."""
    with connect() as conn:
        dashboard_data.create_marts(conn)
        with conn.cursor() as cursor:
            for day, product, purchases, revenue, currency in (
                ("2026-11-01", "p1", 1, "1000.00", "EUR"),
                ("2026-11-01", "p2", 2, "40.00", "EUR"),
                ("2026-11-02", "p2", 3, "66.00", "USD"),
            ):
                cursor.execute(
                    "insert into public.fct_product_performance_daily values"
                    " (%s, %s, null, null, null, 5, 3, 0, 3, %s, %s, %s, %s, 0, null, null)",
                    (day, product, purchases, purchases, revenue, currency),
                )
    conn.close()
    two_days = DateRange(date(2026, 11, 1), date(2026, 11, 2))
    with queries.warehouse() as conn:
        totals = queries.product_totals(conn, two_days, ProductFilter())
        assert totals.revenue == (eur("1040.00"), Money("USD", Decimal("66.00")))
        top = queries.top_products(conn, two_days, ProductFilter(), by="revenue")
        assert [(row.product_id, row.ranked_revenue.amount) for row in top] == [
            ("p2", Decimal("66.00")),
            ("p1", Decimal("0")),
        ]
        assert top[0].revenue == (eur("40.00"), Money("USD", Decimal("66.00")))
        page = str(app.products_page(conn, two_days, ProductFilter(), "revenue"))
    assert_kpis(page, {"revenue-eur": "EUR 1,040.00", "revenue-usd": "USD 66.00"})
    assert "revenue" not in kpi_values(page)
    assert "Revenue is in 2 currencies" in page
    assert "EUR 40.00 · USD 66.00" in page


def test_an_empty_warehouse_gives_empty_results_and_says_so(warehouse_db: str) -> None:
    with connect() as conn:
        dashboard_data.create_marts(conn)
    conn.close()
    with queries.warehouse() as conn:
        assert queries.data_date_range(conn) is None
        assert queries.funnel_summary(conn, ALL_DAYS).sessions == 0
        assert queries.top_products(conn, ALL_DAYS, ProductFilter()) == []
        assert queries.events_per_hour(conn, ALL_DAYS) == []
        health = queries.data_health(conn)
        assert (health.lines_loaded, health.last_load, health.load_age) == (0, None, None)
        assert "No sessions between 2026-11-01 and 2026-11-03" in str(
            app.funnel_page(conn, ALL_DAYS)
        )
        assert "Stale: the last load was never" in str(app.health_page(conn))
        assert queries.data_dates(conn) is None
        assert queries.product_totals(conn, ALL_DAYS, ProductFilter()).revenue == ()


def test_a_warehouse_without_marts_asks_for_a_build(warehouse_db: str) -> None:
    with (
        pytest.raises(queries.MartsNotBuiltError, match="no marts yet"),
        queries.warehouse() as conn,
    ):
        queries.data_date_range(conn)
    page = str(app._guarded(lambda conn: app.funnel_page(conn, ALL_DAYS)))
    assert app.NOT_BUILT_MESSAGE.split(":")[0] in page
    assert "Traceback" not in page


def test_an_unreachable_warehouse_gives_one_friendly_sentence(
    services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", port)
    with pytest.raises(WarehouseUnreachableError, match="cannot reach the warehouse"):
        queries.warehouse().__enter__()
    page = str(app._guarded(app.health_page))
    assert app.UNREACHABLE_MESSAGE in page
    assert "Traceback" not in page
    assert port not in page


# ---------------------------------------------------------------- a generated warehouse
# The figures of the pages on generated traffic built by the real pipeline, against the same
# figures worked out in Python from the raw lines (dbt_support's expectations, not a mart).

GENERATED_DAYS = DateRange(dashboard_data.GENERATED_START, dashboard_data.GENERATED_LAST_DAY)
SECOND_WEEK = DateRange(
    dashboard_data.GENERATED_START + timedelta(days=7),
    dashboard_data.GENERATED_START + timedelta(days=13),
)


@dataclass(frozen=True)
class Generated:
    conn: connection
    events: list[dbt_support.Event]  # the valid events, as clickstream_events should hold them


@pytest.fixture(scope="module")
def generated(services: dict[str, str]) -> Iterator[Generated]:
    with temporary_database("dashgen"), temporary_bucket("dashgen") as bucket:
        dashboard_data.build_generated_warehouse(bucket, Settings.from_env().raw_prefix)
        events = dbt_support.expected_events(dbt_support.raw_lines()).events
        with queries.warehouse() as conn:
            yield Generated(conn, events)


def _ranges() -> list[DateRange]:
    return [GENERATED_DAYS, SECOND_WEEK]


@pytest.mark.slow
def test_generated_new_and_returning_users_are_the_python_ones(generated: Generated) -> None:
    expected = dbt_support.expected_users_daily(generated.events)
    for dates in _ranges():
        shown = queries.users_daily(generated.conn, dates)
        days = [day for day in sorted(expected) if dates.start <= day <= dates.end]
        assert [(day.activity_date, *astuple(day)[1:]) for day in shown] == [
            (day, *expected[day]) for day in days
        ]
    # The traffic has returning users, and the page adds the new ones up.
    assert sum(day.returning_users for day in shown) > 0
    page = str(app.audience_page(generated.conn, GENERATED_DAYS, queries.EVERY_SESSION))
    new_users = sum(values[1] for values in expected.values())
    assert_kpis(page, {"new-users": f"{new_users:,}"})


def _expected_cohorts(
    events: list[dbt_support.Event], dates: DateRange, last_day: date
) -> list[tuple[date, int, list[tuple[int, int, str]]]]:
    """(cohort week, users, [(week, active users, status)]) of the cohorts whose week overlaps
    the range, each up to the week that holds `last_day`."""
    retention = dbt_support.expected_retention(events)
    cohorts = sorted({cohort for cohort, _ in retention})
    result = []
    for cohort in cohorts:
        if not dbt_support.week_start(dates.start) <= cohort <= dates.end:
            continue
        weeks = []
        for week in range(13):
            begins = cohort + timedelta(weeks=week)
            if begins > last_day:
                break
            status = "complete" if begins + timedelta(days=6) <= last_day else "in progress"
            weeks.append((week, retention[(cohort, week)][1], status))
        result.append((cohort, retention[(cohort, 0)][0], weeks))
    return result


@pytest.mark.slow
def test_generated_retention_cohorts_are_the_python_ones(generated: Generated) -> None:
    data = queries.data_dates(generated.conn)
    assert data is not None
    last_day = data.every_day.end
    assert last_day == max(event.event_date for event in generated.events)
    for dates in _ranges():
        shown = queries.retention_cohorts(generated.conn, dates, last_day)
        assert [
            (
                cohort.cohort_week,
                cohort.users,
                [(w.weeks_since_first_visit, w.active_users, w.status) for w in cohort.weeks],
            )
            for cohort in shown
        ] == _expected_cohorts(generated.events, dates, last_day)
    cohorts = queries.retention_cohorts(generated.conn, GENERATED_DAYS, last_day)
    week_one = queries.week_retention(cohorts, 1)
    expected = _expected_cohorts(generated.events, GENERATED_DAYS, last_day)
    complete = [
        (users, weeks[1][1])
        for _, users, weeks in expected
        if weeks[1:] and weeks[1][2] == "complete"
    ]
    assert week_one.cohorts == len(complete) == 2
    assert (week_one.users, week_one.active_users) == (
        sum(users for users, _ in complete),
        sum(active for _, active in complete),
    )
    assert 0 < week_one.active_users < week_one.users
    page = str(app.audience_page(generated.conn, GENERATED_DAYS, queries.EVERY_SESSION))
    assert_kpis(page, {"week-1-retention": app.percent(week_one.rate)})


# The breakdowns' labels from a key of acquisition_support.expected_traffic: (session_date,
# channel, utm_source, utm_medium, utm_campaign, entry_page_path, device_class, browser_family).
_LABELS: dict[queries.TrafficDimension, Callable[[tuple[Any, ...]], str]] = {
    "channel": lambda key: key[1],
    "source_medium": lambda key: f"{key[2]} / {key[3]}",
    "campaign": lambda key: key[4],
    "landing_page": lambda key: key[5],
    "device_class": lambda key: key[6],
    "browser_family": lambda key: key[7],
}
_MEASURES = (
    "sessions",
    "sessions_with_purchase",
    "bounces",
    "engaged_seconds",
    "orders",
    "revenue",
)


def _python_traffic(generated: Generated) -> dict[tuple[Any, ...], dict[str, Any]]:
    return acquisition_support.expected_traffic(
        dbt_support.expected_sessions(generated.events),
        acquisition_support.expected_session_acquisition(generated.events),
    )


def _python_breakdown(
    traffic: dict[tuple[Any, ...], dict[str, Any]],
    dates: DateRange,
    where: TrafficFilter,
    label: Callable[[tuple[Any, ...]], Any],
) -> dict[Any, tuple[Any, ...]]:
    """The measures of the sessions in the range and filter, summed by `label` of their key."""
    sums: dict[Any, list[Any]] = {}
    for key, row in traffic.items():
        if not dates.start <= key[0] <= dates.end:
            continue
        if where.channel not in (None, key[1]) or where.device_class not in (None, key[6]):
            continue
        total = sums.setdefault(label(key), [0, 0, 0, Decimal(0), 0, Decimal(0)])
        for index, measure in enumerate(_MEASURES):
            total[index] += row[measure]
    return {name: tuple(values) for name, values in sums.items()}


def _shown(row: queries.TrafficMeasures) -> tuple[Any, ...]:
    return (
        row.sessions,
        row.sessions_with_purchase,
        row.bounces,
        Decimal(str(row.engaged_seconds)),
        row.orders,
        row.revenue.amount,
    )


@pytest.mark.slow
def test_generated_acquisition_figures_are_the_python_ones(generated: Generated) -> None:
    traffic = _python_traffic(generated)
    channels = _python_breakdown(traffic, GENERATED_DAYS, EVERY_SESSION, _LABELS["channel"])
    # The generator's traffic is varied: most channels, mostly mobile, some of it converting.
    assert len(channels) >= 5
    devices = _python_breakdown(traffic, GENERATED_DAYS, EVERY_SESSION, _LABELS["device_class"])
    sessions = sum(values[0] for values in devices.values())
    assert 0.45 < devices["mobile"][0] / sessions < 0.75
    busiest = max(channels, key=lambda name: channels[name][0])
    filters = [EVERY_SESSION, TrafficFilter(channel=busiest), MOBILE]
    for dates in _ranges():
        for where in filters:
            whole = _python_breakdown(traffic, dates, where, lambda key: "all")
            totals = queries.traffic_totals(generated.conn, dates, where)
            assert _shown(totals) == whole["all"], (dates, where)
            assert totals.revenue.currency == "EUR"
            for by, label in _LABELS.items():
                rows = queries.traffic_breakdown(generated.conn, dates, by, where)
                assert {row.label: _shown(row) for row in rows} == _python_breakdown(
                    traffic, dates, where, label
                ), (dates, where, by)
                counts = [row.sessions for row in rows]
                assert counts == sorted(counts, reverse=True)
            by_day = queries.traffic_by_day(generated.conn, dates, where)
            assert {(day.session_date, day.channel): _shown(day) for day in by_day} == (
                _python_breakdown(traffic, dates, where, lambda key: (key[0], key[1]))
            )
    top_pages = queries.traffic_breakdown(generated.conn, GENERATED_DAYS, "landing_page", limit=3)
    every_page = _python_breakdown(traffic, GENERATED_DAYS, EVERY_SESSION, _LABELS["landing_page"])
    assert [row.sessions for row in top_pages] == sorted(
        (values[0] for values in every_page.values()), reverse=True
    )[:3]


@pytest.mark.slow
def test_generated_funnel_by_channel_is_the_python_one(generated: Generated) -> None:
    sessions = dbt_support.expected_sessions(generated.events)
    acquisition = acquisition_support.expected_session_acquisition(generated.events)
    steps = ("page_views", "product_views", "add_to_carts", "checkouts", "purchases")
    for dates in _ranges():
        for channel in queries.CHANNELS:
            chosen = [
                session
                for session_id, session in sessions.items()
                if dates.start <= session["session_date"] <= dates.end
                and acquisition[session_id]["channel"] == channel
            ]
            funnel = queries.funnel_summary(generated.conn, dates, TrafficFilter(channel=channel))
            assert (funnel.sessions, [step.sessions for step in funnel.steps]) == (
                len(chosen),
                [sum(1 for session in chosen if session[step] > 0) for step in steps],
            ), (dates, channel)
        # Every channel's funnel adds up to the funnel of every session (fct_funnel_daily).
        everything = queries.funnel_summary(generated.conn, dates)
        assert everything.sessions == sum(
            queries.funnel_summary(generated.conn, dates, TrafficFilter(channel=channel)).sessions
            for channel in queries.CHANNELS
        )
