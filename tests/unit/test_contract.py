"""Every rule of event contract v1 and the message it gives (clickstream/contract.py)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from clickstream.contract import (
    EVENT_NAMES,
    MAX_EVENTS_PER_REQUEST,
    EnvelopeError,
    apply_defaults,
    events_of,
    validate_event,
)


def valid_event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "0b9c6a5e-3f1d-4c7a-9e2b-5d8f1a2b3c4d",
        "event_timestamp": "2026-03-02T18:04:05.123+01:00",
        "event_name": "add_to_cart",
        "session_id": "s-1",
        "client_id": "c-1",
        "user_id": None,
        "page": {
            "url": "https://shop.example.com/p/x",
            "path": "/p/x",
            "title": "X",
            "referrer": "",
            "page_view_id": "pv-1",
        },
        "context": {
            "product": {
                "id": "P0001",
                "name": "Lenovo ThinkPad",
                "category": "laptops",
                "brand": "Lenovo",
                "price": 1899.0,
                "discount_price": None,
                "url_path": "/p/x",
                "quantity": 2,
            },
            "order": {"order_id": "ord-1", "currency": "EUR"},
        },
    }
    event.update(changes)
    return event


def with_product(**changes: Any) -> dict[str, Any]:
    event = valid_event()
    event["context"]["product"].update(changes)
    return event


def test_a_complete_event_is_valid() -> None:
    assert validate_event(valid_event()) == []


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_every_event_name_is_accepted(name: str) -> None:
    # consent_update needs a consent_state, page_ping a page_view_id; any event may carry them
    assert validate_event(valid_event(event_name=name, consent_state="granted")) == []


def test_the_smallest_valid_event_is_five_fields() -> None:
    event = {
        "event_id": "0B9C6A5E-3F1D-4C7A-9E2B-5D8F1A2B3C4D",  # upper case is a UUID too
        "event_timestamp": "2026-03-02T17:04:05Z",
        "event_name": "page_view",
        "session_id": "s",
        "client_id": "c",
    }
    assert validate_event(event) == []


def test_unknown_fields_are_allowed_and_kept_at_every_level() -> None:
    event = valid_event(tracker_version="2.1", experiment={"arm": "b"})
    event["context"]["campaign"] = "spring"
    event["context"]["product"]["colour"] = "black"
    assert validate_event(event) == []
    completed = apply_defaults(event)
    assert completed["experiment"] == {"arm": "b"}
    assert completed["context"]["product"]["colour"] == "black"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([1, 2], "event: must be a JSON object (got [1, 2])"),
        ("text", 'event: must be a JSON object (got "text")'),
    ],
)
def test_an_event_must_be_an_object(event: Any, message: str) -> None:
    assert validate_event(event) == [message]


@pytest.mark.parametrize(
    "field", ["event_id", "event_timestamp", "event_name", "session_id", "client_id"]
)
def test_required_fields(field: str) -> None:
    event = valid_event()
    del event[field]
    assert validate_event(event) == [f"{field}: is required"]
    assert validate_event(valid_event(**{field: None})) == [f"{field}: must not be null"]


@pytest.mark.parametrize(
    "value",
    [
        "not-a-uuid",
        "0b9c6a5e3f1d4c7a9e2b5d8f1a2b3c4d",  # no dashes
        "{0b9c6a5e-3f1d-4c7a-9e2b-5d8f1a2b3c4d}",  # braces
        "0b9c6a5e-3f1d-4c7a-9e2b-5d8f1a2b3c4g",  # not hex
        42,
    ],
)
def test_event_id_must_be_a_canonical_uuid(value: Any) -> None:
    (error,) = validate_event(valid_event(event_id=value))
    assert error.startswith(
        "event_id: must be a UUID like 123e4567-e89b-12d3-a456-426614174000 (got "
    )


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-02T18:04:05",  # no offset
        "2026-03-02 18:04:05Z",  # space, not T
        "2026-03-02T18:04Z",  # no seconds
        "2026-03-02T18:04:05.1234567890Z",  # ten fractional digits
        "2026-03-02T18:04:05+0100",  # offset without colon
        "2026-03-02T18:04:05+01:60",  # 60 offset minutes
        "\uff12\uff10\uff12\uff16-03-02T18:04:05Z",  # digits, but not ASCII
        "1772470000",
        1772470000,
    ],
)
def test_event_timestamp_must_be_rfc3339_with_an_offset(value: Any) -> None:
    (error,) = validate_event(valid_event(event_timestamp=value))
    assert error.startswith(
        "event_timestamp: must be an RFC 3339 timestamp with an offset, like "
        "2026-03-01T12:34:56.789Z (got "
    )


@pytest.mark.parametrize("value", ["2026-02-30T10:00:00Z", "2026-03-02T24:00:00Z"])
def test_event_timestamp_must_be_a_real_date_and_time(value: str) -> None:
    (error,) = validate_event(valid_event(event_timestamp=value))
    assert error.startswith("event_timestamp: is not a real date and time: ")


@pytest.mark.parametrize(
    "value",
    ["2026-03-02T18:04:05Z", "2026-03-02T18:04:05.123456789-05:00", "2026-03-02T18:04:05+00:00"],
)
def test_event_timestamp_accepts_rfc3339(value: str) -> None:
    assert validate_event(valid_event(event_timestamp=value)) == []


def test_event_name_must_be_one_of_the_eight() -> None:
    assert validate_event(valid_event(event_name="click")) == [
        "event_name: must be one of page_view, product_view, add_to_cart, remove_from_cart, "
        'checkout, purchase, consent_update, page_ping (got "click")'
    ]
    assert validate_event(valid_event(event_name=["page_view"]))[0].startswith(
        "event_name: must be one of"
    )


@pytest.mark.parametrize("field", ["session_id", "client_id", "user_id", "identity_source"])
def test_id_strings_are_at_most_128_characters(field: str) -> None:
    assert validate_event(valid_event(**{field: "x" * 128})) == []
    assert validate_event(valid_event(**{field: "x" * 129})) == [
        f"{field}: must be at most 128 characters (got 129)"
    ]
    assert validate_event(valid_event(**{field: 7})) == [f"{field}: must be a string"]


def test_required_strings_must_not_be_empty() -> None:
    assert validate_event(valid_event(session_id="")) == ["session_id: must not be empty"]


def test_nullable_fields_accept_null() -> None:
    event = valid_event(user_id=None, identity_source=None, page=None)
    assert validate_event(event) == []


def test_user_login_state_is_an_enumeration() -> None:
    assert validate_event(valid_event(user_login_state="logged_in")) == []
    assert validate_event(valid_event(user_login_state="anonymous")) == [
        'user_login_state: must be one of logged_in, guest (got "anonymous")'
    ]


def test_is_first_visit_is_a_boolean() -> None:
    assert validate_event(valid_event(is_first_visit=True)) == []
    assert validate_event(valid_event(is_first_visit="yes")) == [
        'is_first_visit: must be true or false (got "yes")'
    ]


@pytest.mark.parametrize("state", ["granted", "denied", None])
def test_consent_state_is_granted_denied_or_null(state: str | None) -> None:
    assert validate_event(valid_event(consent_state=state)) == []


def test_consent_state_may_be_absent_as_before_consent_existed() -> None:
    event = valid_event()
    assert "consent_state" not in event
    assert validate_event(event) == []
    assert "consent_state" not in apply_defaults(event)  # no default: absent means no consent mode


@pytest.mark.parametrize("value", ["yes", "GRANTED", True, 1, ""])
def test_consent_state_refuses_anything_else(value: Any) -> None:
    assert validate_event(valid_event(consent_state=value)) == [
        f"consent_state: must be one of granted, denied (got {json.dumps(value)})"
    ]


@pytest.mark.parametrize("state", ["granted", "denied"])
def test_a_consent_update_records_the_new_state(state: str) -> None:
    event = valid_event(event_name="consent_update", consent_state=state, context=None)
    assert validate_event(event) == []


@pytest.mark.parametrize("missing", [{}, {"consent_state": None}])
def test_a_consent_update_needs_its_state(missing: dict[str, Any]) -> None:
    event = valid_event(event_name="consent_update", context=None, **missing)
    assert validate_event(event) == ["consent_state: is required for consent_update events"]


def test_page_must_be_an_object_of_strings() -> None:
    assert validate_event(valid_event(page="/home")) == ['page: must be an object (got "/home")']
    event = valid_event(page={"url": 3, "title": "t" * 2049})
    assert validate_event(event) == [
        "page.url: must be a string",
        "page.title: must be at most 2048 characters (got 2049)",
    ]


@pytest.mark.parametrize("name", ["product_view", "add_to_cart", "remove_from_cart", "purchase"])
def test_product_events_need_a_product(name: str) -> None:
    without_context = valid_event(event_name=name)
    del without_context["context"]
    assert validate_event(without_context) == [f"context.product: is required for {name} events"]
    null_product = valid_event(event_name=name)
    null_product["context"]["product"] = None
    assert validate_event(null_product) == [f"context.product: is required for {name} events"]


def test_page_view_and_checkout_do_not_need_a_product() -> None:
    for name in ("page_view", "checkout"):
        event = valid_event(event_name=name)
        del event["context"]
        assert validate_event(event) == []


def test_context_and_product_must_be_objects() -> None:
    assert validate_event(valid_event(event_name="page_view", context=[])) == [
        "context: must be an object (got [])"
    ]
    event = valid_event()
    event["context"]["product"] = "P0001"
    assert validate_event(event) == ['context.product: must be an object (got "P0001")']


def test_product_id_is_required() -> None:
    event = valid_event()
    del event["context"]["product"]["id"]
    assert validate_event(event) == ["context.product.id: is required"]


@pytest.mark.parametrize("field", ["price", "discount_price"])
@pytest.mark.parametrize("value", [-0.01, "12.50", True, 1e10])
def test_prices_are_numbers_of_zero_or_more(field: str, value: Any) -> None:
    (error,) = validate_event(with_product(**{field: value}))
    assert error == (
        f"context.product.{field}: must be a number between 0 and 1000000000 "
        f"(got {json.dumps(value)})"
    )


def test_prices_may_be_zero_integers_or_null() -> None:
    assert validate_event(with_product(price=0, discount_price=None)) == []


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", False, 10_001])
def test_quantity_is_an_integer_of_one_or_more(value: Any) -> None:
    assert validate_event(with_product(quantity=value)) == [
        "context.product.quantity: must be an integer between 1 and 10000 "
        f"(got {json.dumps(value)})"
    ]


def test_order_fields() -> None:
    event = valid_event(event_name="purchase")
    event["context"]["order"] = {"order_id": 12, "currency": "euro"}
    assert validate_event(event) == [
        "context.order.order_id: must be a string",
        'context.order.currency: must be a three-letter ISO 4217 code like EUR (got "euro")',
    ]
    event["context"]["order"] = "ord-1"
    assert validate_event(event) == ['context.order: must be an object (got "ord-1")']


def test_the_ingest_block_is_reserved_for_the_server() -> None:
    assert validate_event(valid_event(ingest={"source_ip": "1.2.3.4"})) == [
        "ingest: is set by the server and must not be sent"
    ]


def test_every_error_is_reported_at_once() -> None:
    errors = validate_event({"event_name": "purchase", "event_id": "x", "session_id": 1})
    assert [error.split(":")[0] for error in errors] == [
        "event_id",
        "event_timestamp",
        "session_id",
        "client_id",
        "context.product",
    ]


def test_long_bad_values_are_cut_in_messages() -> None:
    (error,) = validate_event(valid_event(event_name="x" * 500))
    assert len(error) < 200
    assert error.endswith("...)")


# ---------------------------------------------------------------------------- defaults


def test_defaults_for_a_guest() -> None:
    event = valid_event()
    del event["context"]["product"]["quantity"]
    completed = apply_defaults(event)
    assert completed["user_login_state"] == "guest"
    assert completed["is_first_visit"] is False
    assert completed["context"]["product"]["quantity"] == 1
    assert "quantity" not in event["context"]["product"]  # the input is not changed


def test_defaults_for_a_logged_in_user_keep_what_was_sent() -> None:
    completed = apply_defaults(valid_event(user_id="u-1", is_first_visit=True))
    assert completed["user_login_state"] == "logged_in"
    assert completed["is_first_visit"] is True
    assert completed["context"]["product"]["quantity"] == 2


def test_a_product_view_gets_no_quantity() -> None:
    event = valid_event(event_name="product_view")
    del event["context"]["product"]["quantity"]
    assert "quantity" not in apply_defaults(event)["context"]["product"]


def test_a_complete_event_is_left_exactly_as_it_came() -> None:
    event = valid_event(user_login_state="guest", is_first_visit=False)
    original = copy.deepcopy(event)
    completed = apply_defaults(event)
    assert json.dumps(completed) == json.dumps(original)


# ---------------------------------------------------------------------------- envelope


def test_one_event_or_a_batch() -> None:
    assert events_of({"event_name": "page_view"}) == [{"event_name": "page_view"}]
    assert events_of({"events": [1, 2]}) == [1, 2]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ([], 400, 'body: must be one event object or {"events": [...]} (got [])'),
        ({"events": {}}, 400, "events: must be an array of events (got {})"),
        ({"events": []}, 400, "events: must hold at least 1 event"),
        (
            {"events": [{}] * (MAX_EVENTS_PER_REQUEST + 1)},
            413,
            "events: at most 500 events per request (got 501)",
        ),
    ],
)
def test_bad_envelopes(body: Any, status: int, message: str) -> None:
    with pytest.raises(EnvelopeError) as raised:
        events_of(body)
    assert (raised.value.status, str(raised.value)) == (status, message)


def test_500_events_is_still_one_request() -> None:
    assert len(events_of({"events": [{}] * MAX_EVENTS_PER_REQUEST})) == MAX_EVENTS_PER_REQUEST


# ------------------------------------------------------------- acquisition and engagement


def acquisition_event(**changes: Any) -> dict[str, Any]:
    event = valid_event(event_name="page_ping")
    event["page"]["utm"] = {
        "source": "google",
        "medium": "cpc",
        "campaign": "spring",
        "term": "laptop",
        "content": "ad-1",
    }
    event["page"]["click_ids"] = {"gclid": "abc", "fbclid": None, "msclkid": None}
    event["context"] = {
        "browser": {
            "language": "en-GB",
            "screen_width": 1920,
            "screen_height": 1080,
            "viewport_width": 1280,
            "viewport_height": 720,
        },
        "ping": {"engaged_seconds": 12.5, "max_scroll_depth_pct": 40},
    }
    event.update(changes)
    return event


def test_an_event_with_every_acquisition_field_is_valid() -> None:
    assert validate_event(acquisition_event()) == []


def test_a_page_ping_needs_a_page_view_id() -> None:
    event = acquisition_event()
    del event["page"]["page_view_id"]
    assert validate_event(event) == ["page.page_view_id: is required for page_ping events"]
    assert validate_event(acquisition_event(page=None)) == [
        "page.page_view_id: is required for page_ping events"
    ]


@pytest.mark.parametrize(
    ("section", "field", "value", "message"),
    [
        ("utm", "source", 7, "page.utm.source: must be a string"),
        ("utm", "campaign", "x" * 257, "page.utm.campaign: must be at most 256 characters"),
        ("click_ids", "gclid", ["a"], "page.click_ids.gclid: must be a string"),
    ],
)
def test_bad_attribution_fields_are_named(
    section: str, field: str, value: Any, message: str
) -> None:
    event = acquisition_event()
    event["page"][section][field] = value
    (error,) = validate_event(event)
    assert error.startswith(message)


@pytest.mark.parametrize(
    ("section", "field", "value", "message"),
    [
        ("browser", "language", "x" * 36, "context.browser.language: must be at most 35"),
        ("browser", "screen_width", -1, "context.browser.screen_width: must be an integer"),
        ("browser", "viewport_height", 1.5, "context.browser.viewport_height: must be an int"),
        ("ping", "engaged_seconds", -2, "context.ping.engaged_seconds: must be a number"),
        ("ping", "max_scroll_depth_pct", 101, "context.ping.max_scroll_depth_pct: must be an"),
    ],
)
def test_bad_browser_and_ping_fields_are_named(
    section: str, field: str, value: Any, message: str
) -> None:
    event = acquisition_event()
    event["context"][section][field] = value
    (error,) = validate_event(event)
    assert error.startswith(message)


def test_the_acquisition_objects_must_be_objects() -> None:
    event = acquisition_event()
    event["page"]["utm"] = "google"
    event["context"]["ping"] = 3
    assert validate_event(event) == [
        'page.utm: must be an object (got "google")',
        "context.ping: must be an object (got 3)",
    ]
