"""Event contract, version 1: the one place its rules live (design.md, "Event contract").

The ingest Lambda validates with it, the traffic generator builds events that pass it, and
the docs are generated from its field tables (devtools/contract_docs.py writes
docs/contract.md and an equivalent JSON Schema document).

    errors = validate_event(event)   # [] when valid, else field-addressed messages:
                                     # ["event_name: must be one of page_view, ... (got 'x')"]
    event = apply_defaults(event)    # a copy with user_login_state, is_first_visit, quantity

Decisions (also in docs/ingest.md):
- Unknown fields are allowed and kept, at every level. A tracker released after the server
  must not lose data; the raw layer keeps everything and dbt picks the columns it knows.
  The one exception is `ingest`: the server writes it, so a client may not send it.
- Timestamps are RFC 3339 with a mandatory offset (`Z` or `+HH:MM`), `T` between date and
  time, 0-9 fractional digits, and a real calendar date and time (no leap second 60).
- UUIDs are the canonical 36-character 8-4-4-4-12 hex form, any version, either case.
- Validation is plain Python over small field tables (no jsonschema on the hot path): the
  ingest benchmark needs well over 20,000 events/s on one core.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

CONTRACT_VERSION: Final = 1

# ------------------------------------------------------------------------------- limits

MAX_BODY_BYTES: Final = 1_048_576  # 1 MiB, also after gzip decompression
MIN_EVENTS_PER_REQUEST: Final = 1
MAX_EVENTS_PER_REQUEST: Final = 500
MAX_ID_LENGTH: Final = 128  # session_id, client_id, user_id, identity_source, product and order ids
MAX_TEXT_LENGTH: Final = 2048  # page fields, product name/category/brand/url_path
MAX_QUANTITY: Final = 10_000  # keeps quantity a PostgreSQL integer and revenue sane
MAX_PRICE: Final = 1_000_000_000  # keeps prices inside numeric(18, 2) with room to spare
MAX_ATTRIBUTION_LENGTH: Final = 256  # utm_* values and click ids
MAX_LANGUAGE_LENGTH: Final = 35  # a BCP 47 language tag
MAX_PIXELS: Final = 100_000  # screen and viewport sizes
MAX_ENGAGED_SECONDS: Final = 86_400  # engaged time between two pings of one page view

# ------------------------------------------------------------------------- enumerations

EVENT_NAMES: Final = (
    "page_view",
    "product_view",
    "add_to_cart",
    "remove_from_cart",
    "checkout",
    "purchase",
    "consent_update",
    "page_ping",
)
# The event that records a visitor's consent choice: its `consent_state` is the new state. It
# is a record, not activity: the marts count no page view or funnel step for it.
CONSENT_EVENT: Final = "consent_update"
# Sent periodically while a page is visible and focused: engagement, not activity. The marts
# count no event for it; fct_page_views sums its engaged time.
PING_EVENT: Final = "page_ping"
PRODUCT_EVENTS: Final = frozenset({"product_view", "add_to_cart", "remove_from_cart", "purchase"})
# Events that move units: `context.product.quantity` defaults to 1 on these only (a product
# view has no quantity).
QUANTITY_EVENTS: Final = frozenset({"add_to_cart", "remove_from_cart", "purchase"})
LOGIN_STATES: Final = ("logged_in", "guest")
# Absent or null: the site does not ask for consent (no consent mode), as before consent existed.
CONSENT_STATES: Final = ("granted", "denied")
RESERVED_FIELDS: Final = ("ingest",)

UUID_EXAMPLE: Final = "123e4567-e89b-12d3-a456-426614174000"
TIMESTAMP_EXAMPLE: Final = "2026-03-01T12:34:56.789Z"

UUID_PATTERN: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# ASCII digits only (\d would take any script's), offset minutes 00-59 (datetime would take
# +01:60 as two hours): exactly what the warehouse accepts (dbt_project/macros/safe_casts.sql).
TIMESTAMP_PATTERN: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:Z|[+-][0-9]{2}:[0-5][0-9])"
)
CURRENCY_PATTERN: Final = re.compile(r"[A-Z]{3}")

# ------------------------------------------------------------------------------ fields


@dataclass(frozen=True)
class Field:
    """One field of the contract: what it holds, whether it must be there, what it defaults to.

    `kind` is one of: uuid, timestamp, enum, string, boolean, number, integer, currency,
    object."""

    name: str
    kind: str
    description: str
    required: bool = False
    nullable: bool = False
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    default: str | None = None  # how the default is derived, in words (None: no default)
    required_when: str | None = None  # a condition, in words, for conditionally required fields


EVENT_FIELDS: Final = (
    Field("event_id", "uuid", "Made by the client; repeats are dropped downstream.", True),
    Field("event_timestamp", "timestamp", "When it happened, by the client's clock.", True),
    Field("event_name", "enum", "What happened.", True, choices=EVENT_NAMES),
    Field("session_id", "string", "The visit.", True, max_length=MAX_ID_LENGTH),
    Field("client_id", "string", "Anonymous browser id.", True, max_length=MAX_ID_LENGTH),
    Field("user_id", "string", "Set when logged in.", nullable=True, max_length=MAX_ID_LENGTH),
    Field(
        "user_login_state",
        "enum",
        "Whether the user was logged in.",
        choices=LOGIN_STATES,
        default="`logged_in` if `user_id` is set, else `guest`",
    ),
    Field(
        "identity_source",
        "string",
        "Who vouched for `user_id`, e.g. `cognito`.",
        nullable=True,
        max_length=MAX_ID_LENGTH,
    ),
    Field("is_first_visit", "boolean", "First visit of this client.", default="`false`"),
    Field(
        "consent_state",
        "enum",
        "The visitor's tracking consent when the event was sent; absent or null: the site does"
        f" not ask for consent. On `{CONSENT_EVENT}`: the new state.",
        nullable=True,
        choices=CONSENT_STATES,
        required_when=f"`event_name` is `{CONSENT_EVENT}`",
    ),
    Field("page", "object", "The page the event happened on (see `page.*`).", nullable=True),
    Field("context", "object", "What the event is about (see `context.*`).", nullable=True),
)

PAGE_FIELDS: Final = (
    *(
        Field(name, "string", description, nullable=True, max_length=MAX_TEXT_LENGTH)
        for name, description in (
            ("url", "Full URL."),
            ("path", "Path part of the URL."),
            ("title", "Document title."),
            ("referrer", "Previous page or referring site."),
        )
    ),
    Field(
        "page_view_id",
        "string",
        "One id per page view: the `page_view` and every later event on that page carry it.",
        nullable=True,
        max_length=MAX_ID_LENGTH,
        required_when=f"`event_name` is `{PING_EVENT}`",
    ),
    Field(
        "utm",
        "object",
        "The landing URL's `utm_*` parameters, kept for the session (see `page.utm.*`).",
        nullable=True,
    ),
    Field(
        "click_ids",
        "object",
        "The landing URL's ad click ids, kept for the session (see `page.click_ids.*`).",
        nullable=True,
    ),
)

UTM_FIELDS: Final = tuple(
    Field(
        name,
        "string",
        f"`utm_{name}` of the landing URL.",
        nullable=True,
        max_length=MAX_ATTRIBUTION_LENGTH,
    )
    for name in ("source", "medium", "campaign", "term", "content")
)

CLICK_ID_FIELDS: Final = tuple(
    Field(name, "string", description, nullable=True, max_length=MAX_ATTRIBUTION_LENGTH)
    for name, description in (
        ("gclid", "Google Ads click id of the landing URL."),
        ("fbclid", "Meta (Facebook, Instagram) click id of the landing URL."),
        ("msclkid", "Microsoft Ads click id of the landing URL."),
    )
)

BROWSER_FIELDS: Final = (
    Field(
        "language",
        "string",
        "The browser's language, a BCP 47 tag such as `en-GB`.",
        nullable=True,
        max_length=MAX_LANGUAGE_LENGTH,
    ),
    *(
        Field(name, "integer", description, nullable=True, minimum=0, maximum=MAX_PIXELS)
        for name, description in (
            ("screen_width", "Screen width in CSS pixels."),
            ("screen_height", "Screen height in CSS pixels."),
            ("viewport_width", "Viewport (window inner) width in CSS pixels."),
            ("viewport_height", "Viewport (window inner) height in CSS pixels."),
        )
    ),
)

PING_FIELDS: Final = (
    Field(
        "engaged_seconds",
        "number",
        "Engaged time (page visible and focused, visitor active) since the previous ping of"
        " this page view.",
        nullable=True,
        minimum=0,
        maximum=MAX_ENGAGED_SECONDS,
    ),
    Field(
        "max_scroll_depth_pct",
        "integer",
        "Deepest scroll so far on this page view, in percent of the page height.",
        nullable=True,
        minimum=0,
        maximum=100,
    ),
)

PRODUCT_FIELDS: Final = (
    Field("id", "string", "Product id.", True, max_length=MAX_ID_LENGTH),
    Field("name", "string", "Product name.", nullable=True, max_length=MAX_TEXT_LENGTH),
    Field("category", "string", "Category path.", nullable=True, max_length=MAX_TEXT_LENGTH),
    Field("brand", "string", "Brand.", nullable=True, max_length=MAX_TEXT_LENGTH),
    Field("price", "number", "List price.", nullable=True, minimum=0, maximum=MAX_PRICE),
    Field(
        "discount_price",
        "number",
        "Price paid when discounted.",
        nullable=True,
        minimum=0,
        maximum=MAX_PRICE,
    ),
    Field("url_path", "string", "Product page path.", nullable=True, max_length=MAX_TEXT_LENGTH),
    Field(
        "quantity",
        "integer",
        "Units.",
        minimum=1,
        maximum=MAX_QUANTITY,
        default="`1` on " + ", ".join(f"`{name}`" for name in sorted(QUANTITY_EVENTS)),
    ),
)

ORDER_FIELDS: Final = (
    Field("order_id", "string", "Order id.", nullable=True, max_length=MAX_ID_LENGTH),
    Field("currency", "currency", "ISO 4217 code, e.g. `EUR`.", nullable=True),
)

CONTEXT_FIELDS: Final = (
    Field(
        "product",
        "object",
        "The product (see `context.product.*`).",
        nullable=True,
        required_when="`event_name` is one of " + ", ".join(sorted(PRODUCT_EVENTS)),
    ),
    Field(
        "order",
        "object",
        "The order, for `checkout` and `purchase` (see `context.order.*`).",
        nullable=True,
    ),
    Field(
        "browser",
        "object",
        "The browser's language, screen and viewport (see `context.browser.*`).",
        nullable=True,
    ),
    Field(
        "ping",
        "object",
        f"Engagement, on `{PING_EVENT}` (see `context.ping.*`).",
        nullable=True,
    ),
)

# ------------------------------------------------------------------------ validation


def _shown(value: Any) -> str:
    """A short rendering of a bad value for a message (never the whole of a huge string)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _check_string(field: Field, value: Any) -> str | None:
    if type(value) is not str:
        return "must be a string"
    if field.required and not value:
        return "must not be empty"
    if field.max_length is not None and len(value) > field.max_length:
        return f"must be at most {field.max_length} characters (got {len(value)})"
    return None


def _check_uuid(field: Field, value: Any) -> str | None:
    if type(value) is not str or len(value) != 36 or not UUID_PATTERN.fullmatch(value):
        return f"must be a UUID like {UUID_EXAMPLE} (got {_shown(value)})"
    return None


def _check_timestamp(field: Field, value: Any) -> str | None:
    if type(value) is not str or not TIMESTAMP_PATTERN.fullmatch(value):
        return (
            f"must be an RFC 3339 timestamp with an offset, like {TIMESTAMP_EXAMPLE} "
            f"(got {_shown(value)})"
        )
    try:
        datetime.fromisoformat(value)
    except ValueError as error:
        return f"is not a real date and time: {error} (got {_shown(value)})"
    return None


def _check_enum(field: Field, value: Any) -> str | None:
    if value not in field.choices or type(value) is not str:
        return f"must be one of {', '.join(field.choices)} (got {_shown(value)})"
    return None


def _check_boolean(field: Field, value: Any) -> str | None:
    return None if type(value) is bool else f"must be true or false (got {_shown(value)})"


def _range_text(field: Field) -> str:
    return f"between {field.minimum} and {field.maximum}"


def _check_number(field: Field, value: Any) -> str | None:
    if type(value) not in (int, float) or not field.minimum <= value <= field.maximum:
        return f"must be a number {_range_text(field)} (got {_shown(value)})"
    return None


def _check_integer(field: Field, value: Any) -> str | None:
    if type(value) is not int or not field.minimum <= value <= field.maximum:  # type: ignore[operator]
        return f"must be an integer {_range_text(field)} (got {_shown(value)})"
    return None


def _check_currency(field: Field, value: Any) -> str | None:
    if type(value) is not str or not CURRENCY_PATTERN.fullmatch(value):
        return f"must be a three-letter ISO 4217 code like EUR (got {_shown(value)})"
    return None


def _check_object(field: Field, value: Any) -> str | None:
    return None if type(value) is dict else f"must be an object (got {_shown(value)})"


_CHECKS: Final[dict[str, Callable[[Field, Any], str | None]]] = {
    "string": _check_string,
    "uuid": _check_uuid,
    "timestamp": _check_timestamp,
    "enum": _check_enum,
    "boolean": _check_boolean,
    "number": _check_number,
    "integer": _check_integer,
    "currency": _check_currency,
    "object": _check_object,
}


def _check_fields(
    values: Mapping[str, Any], fields: tuple[Field, ...], path: str, errors: list[str]
) -> None:
    """Append an error for each field of `fields` that `values` gets wrong."""
    for field in fields:
        if field.name not in values:
            if field.required:
                errors.append(f"{path}{field.name}: is required")
            continue
        value = values[field.name]
        if value is None:
            if not field.nullable:
                errors.append(f"{path}{field.name}: must not be null")
            continue
        problem = _CHECKS[field.kind](field, value)
        if problem is not None:
            errors.append(f"{path}{field.name}: {problem}")


def validate_event(event: Any) -> list[str]:
    """Every way `event` breaks contract v1, one message each; an empty list when it is valid."""
    if type(event) is not dict:
        return [f"event: must be a JSON object (got {_shown(event)})"]
    errors: list[str] = []
    _check_fields(event, EVENT_FIELDS, "", errors)
    for name in RESERVED_FIELDS:
        if name in event:
            errors.append(f"{name}: is set by the server and must not be sent")
    page = event.get("page")
    if type(page) is dict:
        _check_fields(page, PAGE_FIELDS, "page.", errors)
        _check_nested(page, "utm", UTM_FIELDS, "page.", errors)
        _check_nested(page, "click_ids", CLICK_ID_FIELDS, "page.", errors)
    if event.get("event_name") == PING_EVENT and (
        type(page) is not dict or page.get("page_view_id") is None
    ):
        errors.append(f"page.page_view_id: is required for {PING_EVENT} events")
    context = event.get("context")
    context = context if type(context) is dict else {}
    _check_fields(context, CONTEXT_FIELDS, "context.", errors)
    product = context.get("product")
    if type(product) is dict:
        _check_fields(product, PRODUCT_FIELDS, "context.product.", errors)
    elif product is None and event.get("event_name") in PRODUCT_EVENTS:
        errors.append(f"context.product: is required for {event['event_name']} events")
    if event.get("event_name") == CONSENT_EVENT and event.get("consent_state") is None:
        errors.append(f"consent_state: is required for {CONSENT_EVENT} events")
    _check_nested(context, "order", ORDER_FIELDS, "context.", errors)
    _check_nested(context, "browser", BROWSER_FIELDS, "context.", errors)
    _check_nested(context, "ping", PING_FIELDS, "context.", errors)
    return errors


def _check_nested(
    parent: Mapping[str, Any], name: str, fields: tuple[Field, ...], path: str, errors: list[str]
) -> None:
    """Check the fields of the object `parent[name]`, when it is an object (its own type was
    checked with the parent's fields)."""
    child = parent.get(name)
    if type(child) is dict:
        _check_fields(child, fields, f"{path}{name}.", errors)


def apply_defaults(event: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a valid `event` with the contract's defaults filled in where absent or null:
    `user_login_state` from `user_id`, `is_first_visit` false, and `context.product.quantity`
    1 on cart and purchase events. Fields already set are left as they are (and in place, so
    that a complete event serialises exactly as it came)."""
    completed = dict(event)
    if completed.get("user_login_state") is None:
        completed["user_login_state"] = "logged_in" if completed.get("user_id") else "guest"
    if completed.get("is_first_visit") is None:
        completed["is_first_visit"] = False
    context = completed.get("context")
    if (
        completed.get("event_name") in QUANTITY_EVENTS
        and type(context) is dict
        and type(context.get("product")) is dict
    ):
        product = context["product"]
        if product.get("quantity") is None:
            completed["context"] = {**context, "product": {**product, "quantity": 1}}
    return completed


# -------------------------------------------------------------------------- envelope


class EnvelopeError(ValueError):
    """The request body as a whole breaks the contract; `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def events_of(body: Any) -> list[Any]:
    """The events a parsed request body carries: one event object, or {"events": [...]}."""
    if type(body) is not dict:
        raise EnvelopeError(
            f'body: must be one event object or {{"events": [...]}} (got {_shown(body)})'
        )
    if "events" not in body:
        return [body]
    events = body["events"]
    if type(events) is not list:
        raise EnvelopeError(f"events: must be an array of events (got {_shown(events)})")
    if len(events) < MIN_EVENTS_PER_REQUEST:
        raise EnvelopeError(f"events: must hold at least {MIN_EVENTS_PER_REQUEST} event")
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise EnvelopeError(
            f"events: at most {MAX_EVENTS_PER_REQUEST} events per request (got {len(events)})",
            status=413,
        )
    return events
