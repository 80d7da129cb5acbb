"""The dbt warehouse on generated traffic, loaded by the real loader in three batches with an
incremental `dbt build` after each: every mart is compared with figures computed here, in
plain Python, from the raw lines; then a full refresh must rebuild exactly the same marts.

Hand-made lines add what the generator does not make on purpose: each kind of invalid value
(a bad timestamp, a price that is not a number...), a copy of an event received *earlier*
than the copy already kept (an older object loaded late), a retry of a whole request in a
later load, a late event that moves a session's start to the previous day, purchases in
another currency than the shop's or with none, and consent: events with a consent_state and
consent_update events, which clickstream_events keeps and no other mart counts."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from clickstream.config import Settings
from clickstream.raw_layout import encode_ndjson, format_timestamp, ingest_block, raw_object_key
from clickstream.storage import s3_client
from devtools.marts_summary import summarise_marts
from devtools.traffic import Request, generate_requests, write_requests_to_s3
from extract_load.loader import load_new_objects
from tests.integration.acquisition_support import (
    TRAFFIC_DIMENSIONS,
    expected_bot_traffic,
    expected_page_views,
    expected_session_acquisition,
    expected_traffic,
)
from tests.integration.dbt_support import (
    MARTS,
    Expected,
    dbt,
    dbt_result,
    execute,
    expected_activity_daily,
    expected_activity_hourly,
    expected_events,
    expected_funnel,
    expected_orders,
    expected_product_performance,
    expected_products,
    expected_retention,
    expected_sessions,
    expected_users,
    expected_users_daily,
    money,
    query,
    raw_lines,
    shared_target_path,
)

pytestmark = pytest.mark.slow

START = date(2026, 3, 2)
LOAD_SINCE = datetime(2026, 1, 1, tzinfo=UTC)
CROSS_DAY_SESSION = "s-crosses-midnight"
CURRENCY_WARNING = "fct_product_performance_daily_no_purchases_in_other_currencies"


def _event(name: str, at: datetime, session_id: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_timestamp": format_timestamp(at),
        "event_name": name,
        "session_id": session_id,
        "client_id": "c-hand-made",
        "page": {"path": "/hand-made", "referrer": ""},
    }
    event.update(fields)
    return event


def _put_lines(bucket: str, received_at: datetime, events: list[dict[str, Any]]) -> None:
    block = ingest_block(received_at, str(uuid.uuid4()), "192.0.2.1", "pytest")
    key = raw_object_key(Settings.from_env().raw_prefix, received_at)
    body = encode_ndjson([{**event, "ingest": block} for event in events])
    s3_client().put_object(Bucket=bucket, Key=key, Body=body)


def _bad_lines() -> list[dict[str, Any]]:
    """One invalid line per rule (and one exact repeat of an invalid line)."""
    at = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    product = {"id": "P-bad", "price": 10.0}
    bad_price = _event(
        "product_view", at, "s-bad", context={"product": {"id": "P", "price": "abc"}}
    )
    return [
        {**_event("page_view", at, "s-bad"), "event_timestamp": "2026-02-30T10:00:00Z"},
        {**_event("page_view", at, "s-bad"), "event_timestamp": "2026-03-03T10:00:00"},
        bad_price,
        bad_price,
        _event("product_view", at, "s-bad"),
        {**_event("page_view", at, "s-bad"), "event_id": "not-a-uuid"},
        _event("add_to_cart", at, "s-bad", context={"product": {**product, "quantity": 0}}),
        _event("page_view", at, "s-bad", user_login_state="admin"),
        _event("click", at, "s-bad"),
        _event("purchase", at, "s-bad", context={"product": {**product, "price": 1e12}}),
        {**_event("page_view", at, "s-bad"), "session_id": 42},
        _event(
            "purchase", at, "s-bad",
            context={"product": product, "order": {"order_id": "o-bad", "currency": "eur"}},
        ),
        _event("consent_update", at, "s-bad"),
        _event("page_view", at, "s-bad", consent_state="maybe"),
        _event("page_ping", at, "s-bad"),
    ]  # fmt: skip


CONSENT_SESSION = "s-consent"
CONSENT_ONLY_SESSION = "s-consent-only"


def _consent_lines() -> list[dict[str, Any]]:
    """A visitor who grants consent, browses, then withdraws it; another who only withdraws;
    and an event another sender marked denied. The marts count neither consent_update."""
    at = datetime(2026, 3, 3, 12, 10, tzinfo=UTC)
    product = {"id": "P-consent", "name": "Consent Laptop", "price": 999.0}
    return [
        _event("page_view", at, CONSENT_SESSION, consent_state="granted"),
        _event("consent_update", at + timedelta(seconds=1), CONSENT_SESSION,
               consent_state="granted"),
        _event("product_view", at + timedelta(seconds=5), CONSENT_SESSION,
               consent_state="granted", context={"product": product}),
        _event("consent_update", at + timedelta(seconds=9), CONSENT_SESSION,
               consent_state="denied"),
        _event("consent_update", at, CONSENT_ONLY_SESSION, consent_state="denied"),
        _event("product_view", at + timedelta(seconds=20), "s-consent-denied",
               consent_state="denied", context={"product": product}),
    ]  # fmt: skip


LATE_LOGIN_CLIENT = "c-late-login"
LATE_LOGIN_USER = "u-late-login"
SHARED_CLIENT = "c-shared"
# First seen on 2026-02-17 in load 1; an event of a week earlier arrives only in load 3.
LATE_EVENT_CLIENT = "c-late-event"


def _anonymous_visits_lines() -> list[dict[str, Any]]:
    """Load 1: a client that visits anonymously, a week before the generated traffic, and
    buys without an order id (one order per session); the same person logged in on another
    client; a shared computer first seen with user u-b; a client first seen on 2026-02-17."""
    early = datetime(2026, 2, 23, 10, 0, tzinfo=UTC)
    product = {"id": "P-late", "name": "Late Monitor", "price": 200.0, "quantity": 2}
    later = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
    return [
        _event("page_view", early, "s-anon-early", client_id=LATE_LOGIN_CLIENT),
        _event("purchase", early + timedelta(minutes=5), "s-anon-early",
               client_id=LATE_LOGIN_CLIENT, context={"product": product}),
        _event("page_view", later, "s-anon-later", client_id=LATE_LOGIN_CLIENT),
        _event("page_view", later, "s-other-client", client_id="c-late-other",
               user_id=LATE_LOGIN_USER),
        _event("purchase", later + timedelta(minutes=1), "s-other-client",
               client_id="c-late-other", user_id=LATE_LOGIN_USER,
               context={"product": product, "order": {"order_id": "o-late", "currency": "EUR"}}),
        _event("page_view", datetime(2026, 3, 2, 12, 0, tzinfo=UTC), "s-shared-b",
               client_id=SHARED_CLIENT, user_id="u-b"),
        _event("page_view", datetime(2026, 2, 17, 9, 0, tzinfo=UTC), "s-late-event-second",
               client_id=LATE_EVENT_CLIENT),
    ]  # fmt: skip


def _late_login_lines() -> list[dict[str, Any]]:
    """Load 3: the anonymous client logs in (its earlier sessions become the user's), and an
    event of the shared computer, from before u-b's, with another user: it now belongs to
    u-a, and u-b, left with no client, disappears; an event of 2026-02-10 from the client first
    seen on 2026-02-17, delivered late: its first visit, day and cohort week move earlier."""
    return [
        _event("page_view", datetime(2026, 3, 3, 20, 0, tzinfo=UTC), "s-login",
               client_id=LATE_LOGIN_CLIENT),
        _event("page_view", datetime(2026, 3, 3, 20, 1, tzinfo=UTC), "s-login",
               client_id=LATE_LOGIN_CLIENT, user_id=LATE_LOGIN_USER),
        _event("page_view", datetime(2026, 3, 2, 11, 0, tzinfo=UTC), "s-shared-a",
               client_id=SHARED_CLIENT, user_id="u-a"),
        _event("page_view", datetime(2026, 2, 10, 9, 0, tzinfo=UTC), "s-late-event-first",
               client_id=LATE_EVENT_CLIENT),
    ]  # fmt: skip


def _put_purchases_in_other_currencies(bucket: str, requests: list[Request]) -> tuple[date, str]:
    """Two more purchases of the product of a generated purchase, on its day: one in USD and
    one with no currency (no context.order). Returns the (event_date, product_id) they hit."""
    request, purchase = next(
        (request, event)
        for request in requests
        for event in request.events
        if event["event_name"] == "purchase"
    )
    product = purchase["context"]["product"]
    in_dollars = {
        **purchase,
        "event_id": str(uuid.uuid4()),
        "context": {"product": product, "order": {"order_id": "o-usd", "currency": "USD"}},
    }
    with_no_currency = {**purchase, "event_id": str(uuid.uuid4()), "context": {"product": product}}
    _put_lines(bucket, request.received_at, [in_dollars, with_no_currency])
    happened_at = datetime.fromisoformat(purchase["event_timestamp"]).astimezone(UTC)
    return happened_at.date(), product["id"]


def _build() -> dict[str, int]:
    """dbt build, which must succeed; the tests that warned, with their failing rows."""
    result = dbt_result("build")
    assert result.success, result.exception
    items: Any = result.result  # a RunExecutionResult's node results
    return {item.node.name: item.failures for item in items if str(item.status) == "warn"}


def _snapshot(schema: str) -> None:
    execute(f"drop schema if exists {schema} cascade; create schema {schema}")
    for mart in MARTS:
        execute(f"create table {schema}.{mart} as select * from public.{mart}")


def _differences(schema: str) -> dict[str, int]:
    """Rows in one version of each mart and not the other, both ways (0 when identical)."""
    differences = {}
    for mart in MARTS:
        sql = (
            f"select (select count(*) from (select * from {schema}.{mart} except all "
            f"select * from public.{mart}) as missing) + (select count(*) from "
            f"(select * from public.{mart} except all select * from {schema}.{mart}) as extra)"
        )
        differences[mart] = query(sql)[0][0]
    return differences


@dataclasses.dataclass
class Built:
    expected: Expected
    funnel_after_first_load: dict[date, int]
    idempotent_differences: dict[str, int]
    full_refresh_differences: dict[str, int]
    target_path: Path
    other_currency_product_day: tuple[date, str]
    warnings_of_the_second_build: dict[str, int]
    users_after_first_load: dict[str, tuple[Any, ...]]


@pytest.fixture(scope="module")
def built(module_warehouse_db: str, module_raw_bucket: str) -> Built:
    requests = list(
        generate_requests(4000, 2, START, seed=11, retry_rate=0.03, late_rate=0.03, skew_rate=0.02)
    )
    thirds = len(requests) // 3
    batches: list[list[Request]] = [
        requests[:thirds],
        requests[thirds : 2 * thirds],
        requests[2 * thirds :],
    ]
    # Load 3 re-sends batch 1's requests: one a whole second later (a retry: not inserted
    # again), one a second *earlier* under another request id (an older object loaded late:
    # its copies replace the kept ones).
    retried = dataclasses.replace(
        batches[0][5], received_at=batches[0][5].received_at + timedelta(hours=2), request_id="r2"
    )
    earlier = dataclasses.replace(
        batches[0][7], received_at=batches[0][7].received_at - timedelta(seconds=1), request_id="r0"
    )
    batches[2] += [retried, earlier]

    midnight = datetime(2026, 3, 4, tzinfo=UTC)
    after = _event("page_view", midnight + timedelta(seconds=30), CROSS_DAY_SESSION)
    before = _event("page_view", midnight - timedelta(seconds=10), CROSS_DAY_SESSION)
    prefix = Settings.from_env().raw_prefix
    funnel_after_first_load: dict[date, int] = {}
    users_after_first_load: dict[str, tuple[Any, ...]] = {}
    warnings: dict[int, dict[str, int]] = {}
    for number, batch in enumerate(batches, start=1):
        write_requests_to_s3(batch, module_raw_bucket, prefix, s3_client())
        if number == 1:
            _put_lines(module_raw_bucket, midnight + timedelta(seconds=31), [after])
            _put_lines(module_raw_bucket, datetime(2026, 3, 3, 16, 0, tzinfo=UTC),
                       _anonymous_visits_lines())  # fmt: skip
        if number == 2:
            _put_lines(module_raw_bucket, datetime(2026, 3, 3, 12, 5, tzinfo=UTC), _bad_lines())
            consent_received_at = datetime(2026, 3, 3, 12, 11, tzinfo=UTC)
            _put_lines(module_raw_bucket, consent_received_at, _consent_lines())
            other_currency_product_day = _put_purchases_in_other_currencies(
                module_raw_bucket, batch
            )
        if number == 3:
            _put_lines(module_raw_bucket, midnight + timedelta(seconds=40), [before])
            _put_lines(module_raw_bucket, datetime(2026, 3, 3, 20, 5, tzinfo=UTC),
                       _late_login_lines())  # fmt: skip
        load_new_objects(LOAD_SINCE)
        warnings[number] = _build()
        if number == 1:
            funnel_after_first_load = dict(
                query("select session_date, sessions from public.fct_funnel_daily")
            )
            users_after_first_load = {
                row[0]: row[1:]
                for row in query("select user_key, clients, first_seen_at from public.dim_users")
            }

    _snapshot("incremental_result")
    dbt("build")  # nothing new: nothing may change
    idempotent = _differences("incremental_result")
    dbt("build", "--full-refresh")
    full_refresh = _differences("incremental_result")
    return Built(
        expected_events(raw_lines()),
        funnel_after_first_load,
        idempotent,
        full_refresh,
        shared_target_path(),
        other_currency_product_day,
        warnings[2],
        users_after_first_load,
    )


def test_a_full_refresh_builds_exactly_what_the_incremental_runs_built(built: Built) -> None:
    assert built.full_refresh_differences == dict.fromkeys(MARTS, 0)


def test_a_run_with_nothing_new_changes_nothing(built: Built) -> None:
    assert built.idempotent_differences == dict.fromkeys(MARTS, 0)


def test_raw_lines_reconcile_with_valid_invalid_and_duplicates(built: Built) -> None:
    raw = query("select count(*) from staging.raw_events")[0][0]
    valid = query("select count(*) from public.clickstream_events")[0][0]
    invalid = query("select count(*) from public.invalid_events")[0][0]
    assert valid == len(built.expected.events)
    assert invalid == built.expected.invalid_lines
    assert raw == valid + invalid + built.expected.duplicate_lines
    # the data holds each kind of line, so the reconciliation above tests something
    assert built.expected.duplicate_lines > 5
    assert invalid > 11


def test_clickstream_events_keep_the_first_received_copy_of_each_event(built: Built) -> None:
    actual = set(query("select event_id, s3_key, line_number from public.clickstream_events"))
    expected = {(e.event_id, e.s3_key, e.line_number) for e in built.expected.events}
    assert actual == expected


def test_clickstream_events_hold_the_typed_values(built: Built) -> None:
    rows = query(
        "select event_id, event_timestamp, event_name, session_id, user_login_state,"
        " context_product_price, product_quantity, order_currency, event_date, consent_state"
        " from public.clickstream_events"
    )
    actual = {row[0]: row[1:] for row in rows}
    for event in built.expected.events:
        assert actual[event.event_id] == (
            event.event_timestamp,
            event.event_name,
            event.session_id,
            event.user_login_state,
            event.price,
            event.quantity,
            event.order_currency,
            event.event_date,
            event.consent_state,
        )
    currencies = {event.order_currency for event in built.expected.events}
    assert {"EUR", "USD", None} <= currencies


def test_each_invalid_line_is_kept_with_its_reason(built: Built) -> None:
    reasons = [
        reason
        for (row,) in query("select invalid_reasons from public.invalid_events")
        for reason in row
    ]
    for expected in (
        "event_timestamp: must be an RFC 3339 timestamp with an offset",
        "context.product.price: must be a number between 0 and 1000000000",
        "context.product: is required for product_view events",
        "event_id: must be a UUID",
        "context.product.quantity: must be an integer between 1 and 10000",
        "context.order.currency: must be a three-letter ISO 4217 code",
        "user_login_state: must be one of logged_in, guest",
        "event_name: must be one of page_view, product_view, add_to_cart, remove_from_cart,"
        " checkout, purchase, consent_update, page_ping",
        "consent_state: is required for consent_update events",
        "consent_state: must be one of granted, denied",
        "page.page_view_id: is required for page_ping events",
        "session_id: must be a string",
        "event_timestamp: more than 1 hour after ingest.received_at",
    ):
        assert expected in reasons
    assert reasons.count("context.product.price: must be a number between 0 and 1000000000") == 3


def test_sessions_match_python(built: Built) -> None:
    expected = expected_sessions(built.expected.events)
    columns = [
        "client_id", "user_id", "session_started_at", "session_ended_at", "session_date",
        "session_duration_seconds", "events", "page_views", "product_views", "add_to_carts",
        "remove_from_carts", "checkouts", "purchases", "entry_page_path", "referrer",
        "is_bounce", "is_first_visit",
    ]  # fmt: skip
    rows = query(f"select session_id, {', '.join(columns)} from public.fct_sessions")
    actual = {row[0]: dict(zip(columns, row[1:], strict=True)) for row in rows}
    assert actual.keys() == expected.keys()
    for session_id, session in expected.items():
        assert actual[session_id] == session, session_id


def test_the_funnel_matches_python(built: Built) -> None:
    expected = expected_funnel(expected_sessions(built.expected.events))
    columns = [
        "sessions", "sessions_with_page_view", "sessions_with_product_view",
        "sessions_with_add_to_cart", "sessions_with_checkout", "sessions_with_purchase",
        "product_view_rate", "add_to_cart_rate", "checkout_rate", "purchase_rate",
        "session_conversion_rate",
    ]  # fmt: skip
    rows = query(f"select session_date, {', '.join(columns)} from public.fct_funnel_daily")
    assert {row[0]: dict(zip(columns, row[1:], strict=True)) for row in rows} == expected


def test_a_late_event_moves_its_session_to_the_previous_day(built: Built) -> None:
    # after the first load the session was the only one starting on March 4th ...
    assert built.funnel_after_first_load[date(2026, 3, 4)] == 1
    # ... the late event moved its start to March 3rd: the 4th has no session left
    assert query("select session_date from public.fct_sessions where session_id = %s",
                 CROSS_DAY_SESSION) == [(date(2026, 3, 3),)]  # fmt: skip
    assert query("select count(*) from public.fct_funnel_daily where session_date = %s",
                 date(2026, 3, 4)) == [(0,)]  # fmt: skip


def test_consent_updates_are_kept_but_counted_in_no_mart(built: Built) -> None:
    kept = query(
        "select session_id, consent_state from public.clickstream_events"
        " where event_name = 'consent_update' order by event_timestamp, session_id"
    )
    assert kept == [
        (CONSENT_ONLY_SESSION, "denied"),
        (CONSENT_SESSION, "granted"),
        (CONSENT_SESSION, "denied"),
    ]
    # the session counts its page view and product view only; a session of nothing but a
    # consent choice is no session
    assert query(
        "select session_id, events, page_views, product_views, is_bounce from public.fct_sessions"
        " where session_id like 's-consent%%' order by session_id"
    ) == [(CONSENT_SESSION, 2, 1, 1, False), ("s-consent-denied", 1, 0, 1, True)]
    assert query(
        "select count(*) from public.fct_activity_hourly where event_name = 'consent_update'"
    ) == [(0,)]
    # by default (consented_data_only false) a denied event still counts
    assert query(
        "select views from public.fct_product_performance_daily where product_id = 'P-consent'"
    ) == [(2,)]


def test_product_performance_matches_python(built: Built) -> None:
    expected = expected_product_performance(built.expected.events)
    columns = [
        "views", "add_to_carts", "removes", "checkouts", "purchases", "units", "revenue",
        "currency", "purchases_in_other_currencies", "view_to_cart_rate",
        "cart_to_purchase_rate",
    ]  # fmt: skip
    rows = query(
        f"select event_date, product_id, {', '.join(columns)}"
        " from public.fct_product_performance_daily"
    )
    actual = {(row[0], row[1]): dict(zip(columns, row[2:], strict=True)) for row in rows}
    for row in expected.values():
        row["revenue"] = money(row["revenue"])
    assert actual == expected


def test_purchases_in_another_currency_are_counted_apart_and_reported(built: Built) -> None:
    assert query(
        "select event_date, product_id, purchases_in_other_currencies"
        " from public.fct_product_performance_daily where purchases_in_other_currencies > 0"
    ) == [(*built.other_currency_product_day, 1)]
    # still purchase events: the generated one (EUR), the one in USD, the one with none
    # (revenue, without the USD one: test_product_performance_matches_python)
    ((purchases,),) = query(
        "select purchases from public.fct_product_performance_daily"
        " where event_date = %s and product_id = %s",
        *built.other_currency_product_day,
    )
    assert purchases >= 3
    # the build that loaded it said so
    assert built.warnings_of_the_second_build == {CURRENCY_WARNING: 1}


def test_dim_products_hold_the_latest_attributes(built: Built) -> None:
    expected = expected_products(built.expected.events)
    columns = [
        "product_name", "category", "brand", "price", "discount_price", "first_seen_at",
        "last_seen_at",
    ]  # fmt: skip
    rows = query(f"select product_id, {', '.join(columns)} from public.dim_products")
    assert {row[0]: dict(zip(columns, row[1:], strict=True)) for row in rows} == expected


def test_hourly_activity_matches_python(built: Built) -> None:
    rows = query(
        "select event_hour, event_name, events, users, sessions from public.fct_activity_hourly"
    )
    actual = {(row[0], row[1]): row[2:] for row in rows}
    assert actual == expected_activity_hourly(built.expected.events)


def test_daily_activity_matches_python(built: Built) -> None:
    rows = query(
        "select event_date, events, users, sessions, logged_in_users, new_clients"
        " from public.fct_activity_daily"
    )
    assert {row[0]: row[1:] for row in rows} == expected_activity_daily(built.expected.events)


def test_orders_match_python(built: Built) -> None:
    expected = expected_orders(built.expected.events)
    sessions = expected_session_acquisition(built.expected.events)
    for order in expected.values():
        session = sessions[order["session_id"]]
        order |= {"channel": session["channel"], "device_class": session["device_class"]}
    columns = [
        "session_id", "user_key", "client_id", "user_id", "ordered_at", "order_date", "items",
        "units", "revenue", "currency", "channel", "device_class",
    ]  # fmt: skip
    rows = query(f"select order_id, {', '.join(columns)} from public.fct_orders")
    assert {row[0]: dict(zip(columns, row[1:], strict=True)) for row in rows} == expected
    # the data holds each kind of order, so the comparison above tests something
    assert {"o-usd", "o-late", "session:s-anon-early"} <= expected.keys()
    assert expected["o-usd"]["currency"] == "USD"


def test_dim_users_match_python(built: Built) -> None:
    expected = expected_users(built.expected.events)
    sessions = expected_session_acquisition(built.expected.events)
    for user in expected.values():
        user["first_channel"] = sessions[user["first_session_id"]]["channel"]
    columns = [
        "user_id", "is_identified", "clients", "first_seen_at", "last_seen_at",
        "first_session_id", "first_channel", "sessions", "orders", "revenue",
    ]  # fmt: skip
    rows = query(f"select user_key, {', '.join(columns)} from public.dim_users")
    assert {row[0]: dict(zip(columns, row[1:], strict=True)) for row in rows} == expected


def test_a_late_login_stitches_the_earlier_anonymous_visits_in_incremental_runs(
    built: Built,
) -> None:
    # after the first load the client was anonymous, its own user, a week before the person
    anonymous_key = f"anon:{LATE_LOGIN_CLIENT}"
    assert built.users_after_first_load[anonymous_key][0] == 1
    assert built.users_after_first_load[LATE_LOGIN_USER][0] == 1
    assert built.users_after_first_load["u-b"][0] == 1
    # the login (load 3) moved its sessions, its order and its first visit to the user
    assert query("select count(*) from public.dim_users where user_key = %s", anonymous_key) == [
        (0,)
    ]
    ((clients, first_seen_at, orders),) = query(
        "select clients, first_seen_at, orders from public.dim_users where user_key = %s",
        LATE_LOGIN_USER,
    )
    assert (clients, first_seen_at, orders) == (2, datetime(2026, 2, 23, 10, 0, tzinfo=UTC), 2)
    assert query(
        "select user_key, user_id from public.fct_orders where order_id = 'session:s-anon-early'"
    ) == [(LATE_LOGIN_USER, LATE_LOGIN_USER)]
    # an earlier event with another user on a shared computer: the first user seen wins
    assert query("select user_key from public.dim_users where user_key in ('u-a', 'u-b')") == [
        ("u-a",)
    ]
    # the user's cohort is the week of the anonymous visit; that week has no other user
    assert query(
        "select cohort_users, active_users from public.fct_retention_weekly"
        " where cohort_week = '2026-02-23' order by weeks_since_first_visit limit 2"
    ) == [(1, 1), (1, 1)]


def test_retention_matches_python(built: Built) -> None:
    rows = query(
        "select cohort_week, weeks_since_first_visit, cohort_users, active_users,"
        " retention_rate from public.fct_retention_weekly"
    )
    expected = expected_retention(built.expected.events)
    assert {(row[0], row[1]): row[2:] for row in rows} == expected
    assert all(cohort.weekday() == 0 for cohort, _ in expected)


def test_users_daily_match_python(built: Built) -> None:
    rows = query(
        "select activity_date, users, new_users, returning_users, sessions,"
        " sessions_of_new_users, sessions_of_returning_users from public.fct_users_daily"
    )
    expected = expected_users_daily(built.expected.events)
    assert {row[0]: row[1:] for row in rows} == expected
    assert any(day[2] > 0 for day in expected.values())  # returning users exist


def test_the_demo_summary_reads_the_marts(built: Built) -> None:
    with psycopg2.connect() as conn:
        report = summarise_marts(conn)
    conn.close()
    sessions = len(expected_sessions(built.expected.events))
    funnel_first_line = report.splitlines()[2].split()
    assert funnel_first_line[:2] == ["sessions", f"{sessions:,}"]
    top = query(
        "select product_name from public.dim_products as p join ("
        " select product_id, sum(views) as v from public.fct_product_performance_daily"
        " group by 1 order by 2 desc, 1 limit 1) as t using (product_id)"
    )[0][0]
    assert top[:40] in report
    assert len(report.split("5 busiest hours (UTC)")[1].strip().splitlines()) == 6
    # revenue says its currency; the USD purchase is reported apart, not summed into it
    assert " EUR" in report.split("Top 10 products")[1].splitlines()[3]
    assert "1 purchase events in other currencies than EUR are not in revenue" in report


def test_every_model_and_column_is_described(built: Built) -> None:
    manifest = json.loads((built.target_path / "manifest.json").read_text())
    undescribed = [
        f"{node['name']}.{column}" if column else node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        for column in [None, *node["columns"]]
        if not (node["columns"][column]["description"] if column else node["description"])
    ]
    assert undescribed == []
    # and every column the models build is documented (none forgotten in the yml)
    relations = [("public", mart) for mart in MARTS] + [
        ("dbt_staging", "stg_clickstream__raw_events"),
        ("dbt_intermediate", "int_events_classified"),
    ]
    for schema, relation in relations:
        built_columns = {
            name for (name,) in query(
                "select column_name from information_schema.columns"
                " where table_schema = %s and table_name = %s", schema, relation)
        }  # fmt: skip
        documented = set(manifest["nodes"][f"model.clickstream.{relation}"]["columns"])
        assert built_columns == documented, relation


# ------------------------------------------------------------- acquisition (issue 11)


def test_session_acquisition_columns_match_python(built: Built) -> None:
    expected = expected_session_acquisition(built.expected.events)
    columns = list(next(iter(expected.values())))
    rows = query(f"select session_id, {', '.join(columns)} from public.fct_sessions")
    actual = {row[0]: dict(zip(columns, row[1:], strict=True)) for row in rows}
    assert actual.keys() == expected.keys()
    for session_id, session in expected.items():
        assert actual[session_id] == session, session_id
    channels = {session["channel"] for session in expected.values()}
    assert {"Direct", "Organic Search", "Paid Search", "Social", "Email"} <= channels


def test_page_views_match_python(built: Built) -> None:
    expected = expected_page_views(built.expected.events)
    columns = list(next(iter(expected.values())))
    rows = query(f"select page_view_id, {', '.join(columns)} from public.fct_page_views")
    actual = {row[0]: dict(zip(columns, row[1:], strict=True)) for row in rows}
    assert actual.keys() == expected.keys()
    for page_view_id, page_view in expected.items():
        assert actual[page_view_id] == page_view, page_view_id
    assert any(view["page_pings"] > 0 for view in expected.values())


def test_traffic_daily_matches_python(built: Built) -> None:
    expected = expected_traffic(
        expected_sessions(built.expected.events),
        expected_session_acquisition(built.expected.events),
    )
    measures = list(next(iter(expected.values())))
    keys = ["session_date", *TRAFFIC_DIMENSIONS]
    rows = query(f"select {', '.join(keys + measures)} from public.fct_traffic_daily")
    actual = {
        tuple(row[: len(keys)]): dict(zip(measures, row[len(keys) :], strict=True)) for row in rows
    }
    assert actual == expected


def test_bot_traffic_matches_python_and_bots_count_nowhere_else(built: Built) -> None:
    expected = expected_bot_traffic(built.expected.events)
    assert expected, "the generator makes a few bot sessions"
    rows = query("select event_date, bot_name, events, sessions from public.fct_bot_traffic_daily")
    actual = {
        (day, name): {"events": events, "sessions": sessions}
        for day, name, events, sessions in rows
    }
    assert actual == expected
    leaked = query(
        "select count(*) from public.fct_sessions where session_id in"
        " (select session_id from public.clickstream_events where is_bot)"
    )
    assert leaked == [(0,)]
