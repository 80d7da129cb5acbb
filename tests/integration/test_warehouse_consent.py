"""Consent in the warehouse (dbt_project/macros/consent.sql): consent_state reaches
clickstream_events; the var consented_data_only leaves the 'denied' events out of the marts
(not out of clickstream_events), and since it changes every mart row, an incremental run with
it changed refuses and says to rebuild (macros/built_with.sql)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from clickstream.config import Settings
from clickstream.raw_layout import encode_ndjson, format_timestamp, ingest_block, raw_object_key
from clickstream.storage import s3_client
from devtools.traffic import generate_requests, write_requests_to_s3
from extract_load.loader import load_new_objects
from tests.integration.dbt_support import (
    Event,
    dbt,
    dbt_result,
    execute,
    expected_activity_daily,
    expected_activity_hourly,
    expected_events,
    expected_product_performance,
    expected_products,
    expected_sessions,
    money,
    query,
    raw_lines,
)

pytestmark = pytest.mark.slow

LOAD_SINCE = datetime(2026, 1, 1, tzinfo=UTC)
DAY = date(2026, 3, 2)
ONLY_CONSENTED = "{consented_data_only: true}"
BUILT_WITH_VARS = "dbt_intermediate.built_with_vars"


def _event(name: str, at: datetime, session_id: str, state: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_timestamp": format_timestamp(at),
        "event_name": name,
        "session_id": session_id,
        "client_id": f"c-{session_id}",
        "consent_state": state,
    }
    if name == "product_view":
        event["context"] = {"product": {"id": "P-consent", "name": "Consent Laptop", "price": 9}}
    return event


def _load_traffic_and_consent_lines(bucket: str) -> None:
    """200 generated events (no consent_state: a site that does not ask), then a visitor who
    grants, browses and withdraws, and events another sender marked denied."""
    prefix = Settings.from_env().raw_prefix
    write_requests_to_s3(generate_requests(200, 1, DAY, seed=3), bucket, prefix, s3_client())
    at = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    lines = [
        _event("consent_update", at, "s-granted", "granted"),
        _event("page_view", at + timedelta(seconds=1), "s-granted", "granted"),
        _event("product_view", at + timedelta(seconds=5), "s-granted", "granted"),
        _event("consent_update", at + timedelta(seconds=9), "s-granted", "denied"),
        _event("page_view", at + timedelta(seconds=20), "s-denied", "denied"),
        _event("product_view", at + timedelta(seconds=25), "s-denied", "denied"),
        _event("page_view", at + timedelta(seconds=30), "s-mixed", None),
        _event("product_view", at + timedelta(seconds=31), "s-mixed", "denied"),
    ]
    block = ingest_block(at + timedelta(minutes=1), str(uuid.uuid4()), "192.0.2.1", "pytest")
    key = raw_object_key(prefix, at + timedelta(minutes=1))
    body = encode_ndjson([{**line, "ingest": block} for line in lines])
    s3_client().put_object(Bucket=bucket, Key=key, Body=body)
    load_new_objects(LOAD_SINCE)


def _errors(*arguments: str) -> str:
    """What a dbt command that must fail said: its error, or its nodes' errors."""
    result = dbt_result(*arguments)
    assert not result.success
    items: Any = result.result or []  # a RunExecutionResult's node results
    return " ".join([str(result.exception), *(str(item.message) for item in items)])


def _assert_marts_match_python(events: list[Event], consented_data_only: bool) -> None:
    sessions = expected_sessions(events, consented_data_only)
    rows = query("select session_id, events, page_views, product_views from public.fct_sessions")
    assert {row[0]: row[1:] for row in rows} == {
        session_id: (session["events"], session["page_views"], session["product_views"])
        for session_id, session in sessions.items()
    }
    rows = query(
        "select event_hour, event_name, events, users, sessions from public.fct_activity_hourly"
    )
    assert {(row[0], row[1]): row[2:] for row in rows} == expected_activity_hourly(
        events, consented_data_only
    )
    rows = query(
        "select event_date, events, users, sessions, logged_in_users, new_clients"
        " from public.fct_activity_daily"
    )
    assert {row[0]: row[1:] for row in rows} == expected_activity_daily(events, consented_data_only)
    performance = expected_product_performance(events, consented_data_only=consented_data_only)
    rows = query("select event_date, product_id, views, revenue from fct_product_performance_daily")
    assert {(row[0], row[1]): row[2:] for row in rows} == {
        key: (row["views"], money(row["revenue"])) for key, row in performance.items()
    }
    products = expected_products(events, consented_data_only)
    assert {row[0] for row in query("select product_id from public.dim_products")} == set(products)
    funnel_sessions = sum(1 for _ in sessions)
    assert query("select sum(sessions) from public.fct_funnel_daily") == [(funnel_sessions,)]


def test_consented_data_only_leaves_denied_events_out_of_the_marts(
    warehouse_db: str, raw_bucket: str
) -> None:
    _load_traffic_and_consent_lines(raw_bucket)
    dbt("build")
    events = expected_events(raw_lines()).events
    # clickstream_events keeps every valid event with its consent_state, whatever the var
    assert query(
        "select consent_state, count(*) from public.clickstream_events"
        " group by 1 order by 1 nulls last"
    ) == [("denied", 4), ("granted", 3), (None, len(events) - 7)]
    _assert_marts_match_python(events, consented_data_only=False)
    assert query("select events from public.fct_sessions where session_id = 's-denied'") == [(2,)]
    assert query(
        f"select relation_name, var_value from {BUILT_WITH_VARS}"
        " where var_name = 'consented_data_only' order by 1"
    ) == [
        (mart, "false")
        for mart in sorted(
            [
                "dim_products",
                "dim_users",
                "fct_activity_daily",
                "fct_activity_hourly",
                "fct_bot_traffic_daily",
                "fct_funnel_daily",
                "fct_orders",
                "fct_page_views",
                "fct_product_performance_daily",
                "fct_retention_weekly",
                "fct_sessions",
                "fct_traffic_daily",
                "fct_users_daily",
                "int_client_active_weeks",
                "int_user_identity",
            ]
        )
    ]

    # changing the var needs a full refresh: an incremental run refuses, naming both
    errors = _errors("run", "--vars", ONLY_CONSENTED)
    assert (
        '"fct_sessions" was built with consented_data_only = false but var'
        " consented_data_only is true" in errors
    )
    assert "make dbt-full-refresh" in errors

    dbt("build", "--full-refresh", "--vars", ONLY_CONSENTED)
    _assert_marts_match_python(events, consented_data_only=True)
    assert query("select count(*) from public.fct_sessions where session_id = 's-denied'") == [(0,)]
    # the mixed session keeps its page view with no consent_state (a site that does not ask)
    assert query("select events, product_views from fct_sessions where session_id = 's-mixed'") == [
        (1, 0)
    ]
    assert query("select count(*) from public.clickstream_events") == [(len(events),)]

    dbt("build", "--vars", ONLY_CONSENTED)  # incremental, same var: fine
    errors = _errors("run", "--select", "fct_activity_daily")  # back to the default: refused
    assert "was built with consented_data_only = true but var consented_data_only is false" in (
        errors
    )


def test_a_mart_built_before_the_var_existed_counts_as_built_without_it(
    warehouse_db: str, raw_bucket: str
) -> None:
    _load_traffic_and_consent_lines(raw_bucket)
    dbt("seed")  # fct_sessions' channel reads the seed channel_sources
    dbt("run", "--select", "+fct_sessions")
    execute(f"delete from {BUILT_WITH_VARS}")  # as a table built by an earlier release
    dbt("run", "--select", "fct_sessions")
    errors = _errors("run", "--select", "fct_sessions", "--vars", ONLY_CONSENTED)
    assert "was built with consented_data_only = false" in errors


def test_consented_data_only_must_be_a_boolean(warehouse_db: str) -> None:
    not_a_boolean = "{consented_data_only: maybe}"
    errors = _errors("compile", "--select", "fct_sessions", "--vars", not_a_boolean)
    assert "var consented_data_only must be true or false (got 'maybe')" in errors
