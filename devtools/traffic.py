"""Synthetic traffic of a small computer shop, in event contract v1 (design.md).

The generator models what browsers send: *requests*, each a batch of 1..N consecutive events
of one session, received by the ingest endpoint a moment after the last of them. Writing a
request to S3 produces exactly the object the ingest Lambda would write (clickstream.raw_layout):
one NDJSON line per event, each with its `ingest` block, under the hour of `received_at`.

    python -m devtools.traffic --events 20000 --days 1 --start 2026-03-02 --seed 7

Rules worth knowing:

- Deterministic: the same arguments give the same requests, event ids and object keys
  (everything random comes from one `random.Random(seed)`; the catalogue is fixed).
  The ids (events, sessions, clients, orders, requests) also depend on `start`: the same
  seed on another start date gives the same shape of traffic with ids of its own, so a
  demo run on a later day adds a day instead of repeating the first one's event ids.
- `events` is the number of *distinct* events (distinct `event_id`s). Client retries re-send
  a whole request with the same event ids, so the raw lines are `events` + the retried events
  (`TrafficStats.lines`); with `retry_rate=0` the lines are exactly `events`.
- Events are spread over the hours of the days in proportion to a weight (busier evenings
  and weekdays); each hour gets its share exactly, the last session of an hour is cut short.
- Realism that exercises the warehouse, each a small non-zero default:
  `retry_rate` (a request sent again, same event ids, 1-120 s later: duplicates downstream),
  `late_rate` (a request delivered 1-8 hours late, as a tracker keeping unsent events across
  a reload would: it lands in a later hour partition) and `skew_rate` (a session whose
  client clock runs 2-6 hours fast: its `event_timestamp`s are more than 1 h after
  `received_at`, which the warehouse classifies invalid).
- `is_first_visit` is true on every event of a client's first session.
- Acquisition (issue 11): each session arrives through a channel (CHANNELS: organic and paid
  search, social, email campaigns, direct, referrals, affiliates, display), which sets its
  referrer, the landing URL's utm_* parameters and click ids; the tracker re-sends them on
  every event of the session, as `page.utm` and `page.click_ids`. Devices through realistic
  user agents (about 60 % mobile), with language, screen and viewport. Every page view has
  a `page_view_id`, and `page_ping`s every 15 s while the visitor stays on it. A few
  sessions (P_BOT_SESSION) are crawlers: bot user agents, pages only, never a purchase.
  Some account holders browse as guests and log in at checkout: their earlier events have
  user_id null, the later ones the user_id.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from random import Random
from typing import TYPE_CHECKING, Any, TypeVar

from clickstream.config import Settings
from clickstream.errors import BucketUnreachableError, ClickstreamError
from clickstream.raw_layout import encode_ndjson, ingest_block, raw_object_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_Choice = TypeVar("_Choice")

SHOP_URL = "https://shop.example.com"
SHOP_NAME = "Example Computer Shop"
CURRENCY = "EUR"
IDENTITY_SOURCE = "cognito"

# Funnel: the share of sessions that go one step further (issue 2, section 3).
P_VIEW_PRODUCT = 0.60
P_ADD_TO_CART = 0.25
P_CHECKOUT = 0.50
P_PURCHASE = 0.70
P_REMOVE_FROM_CART = 0.15

# Visitors.
P_RETURNING_CLIENT = 0.45  # a session from a client seen in an earlier hour
P_CLIENT_HAS_ACCOUNT = 0.35
P_LOGGED_IN_WHEN_ACCOUNT = 0.75

P_LOG_IN_AT_CHECKOUT = 0.5  # an account holder browsing as a guest logs in to check out
P_BOT_SESSION = 0.012  # a crawler's session (0.5-2 % of sessions)
P_PAGE_PINGS = 0.85  # a page view whose tab stays visible and focused: it sends pings
PING_SECONDS = 15  # the tracker's default ping interval
MAX_PINGS_PER_PAGE = 8

DEFAULT_RETRY_RATE = 0.005
DEFAULT_LATE_RATE = 0.005
DEFAULT_SKEW_RATE = 0.002
DEFAULT_MAX_BATCH = 8

# Traffic by hour of day (UTC) and by weekday (Monday first): busier evenings and weekdays.
HOUR_WEIGHTS = (
    0.25, 0.15, 0.10, 0.08, 0.08, 0.12, 0.25, 0.45, 0.65, 0.80, 0.90, 0.95,
    1.00, 1.00, 0.95, 0.95, 1.00, 1.10, 1.30, 1.55, 1.70, 1.60, 1.20, 0.60,
)  # fmt: skip
WEEKDAY_WEIGHTS = (1.00, 1.05, 1.05, 1.00, 0.95, 0.75, 0.70)


@dataclass(frozen=True)
class Device:
    """A browser on a device: its user agent, screen and viewport (CSS pixels)."""

    user_agent: str
    screen: tuple[int, int]
    viewport: tuple[int, int]


_DESKTOP = ((1920, 1080), (1856, 940))
_LAPTOP = ((1440, 900), (1440, 789))
_PHONE = ((390, 844), (390, 664))
_ANDROID = ((412, 915), (412, 783))
_TABLET = ((820, 1180), (820, 1106))
# (device, weight): about 60 % mobile, 33 % desktop, 7 % tablet.
DEVICES: tuple[tuple[Device, float], ...] = tuple(
    (Device(user_agent, *sizes), weight)
    for user_agent, sizes, weight in (
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            _PHONE,
            0.27,
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/130.0.0.0 Mobile Safari/537.36",
            _ANDROID,
            0.22,
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
            _ANDROID,
            0.11,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/130.0.0.0 Safari/537.36",
            _DESKTOP,
            0.15,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
            _DESKTOP,
            0.06,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            _LAPTOP,
            0.08,
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0", _DESKTOP, 0.04),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            _TABLET,
            0.05,
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/130.0.0.0 Safari/537.36",
            _TABLET,
            0.02,
        ),
    )
)
USER_AGENTS = tuple(device.user_agent for device, _ in DEVICES)
BOT_USER_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
)
LANGUAGES = (("en-GB", 0.35), ("de-DE", 0.25), ("fr-FR", 0.15), ("en-US", 0.15), ("nl-NL", 0.1))


@dataclass(frozen=True)
class Arrival:
    """How a session arrives: its referrer and its landing URL's utm_* and click ids."""

    referrer: str
    utm: dict[str, str] | None = None
    click_ids: dict[str, str] | None = None

    def query(self) -> str:
        """The landing URL's query string."""
        pairs = [(f"utm_{name}", value) for name, value in (self.utm or {}).items()]
        pairs += list((self.click_ids or {}).items())
        return "?" + "&".join(f"{name}={value}" for name, value in pairs) if pairs else ""


CAMPAIGNS = ("spring-laptops", "monitor-week", "back-to-school")
SEARCH_TERMS = ("thinkpad", "4k monitor", "usb-c dock", "macbook air")


def _organic_search(rng: Random) -> Arrival:
    engine = _weighted_choice(
        rng,
        (
            ("https://www.google.com/", 0.8),
            ("https://www.bing.com/", 0.12),
            ("https://duckduckgo.com/", 0.08),
        ),
    )
    return Arrival(engine)


def _paid_search(rng: Random) -> Arrival:
    utm = {
        "source": "google",
        "medium": "cpc",
        "campaign": rng.choice(CAMPAIGNS),
        "term": rng.choice(SEARCH_TERMS),
    }
    return Arrival("https://www.google.com/", utm, {"gclid": f"Cj0{_uuid(rng).hex[:20]}"})


def _social(rng: Random) -> Arrival:
    referrer = _weighted_choice(
        rng,
        (
            ("https://l.facebook.com/", 0.45),
            ("https://l.instagram.com/", 0.3),
            ("https://t.co/", 0.15),
            ("https://www.reddit.com/r/buildapc/", 0.1),
        ),
    )
    if "facebook" in referrer or "instagram" in referrer:
        if rng.random() < 0.5:
            return Arrival(referrer, click_ids={"fbclid": f"IwAR{_uuid(rng).hex[:24]}"})
        source = "facebook" if "facebook" in referrer else "instagram"
        utm = {"source": source, "medium": "social", "campaign": rng.choice(CAMPAIGNS)}
        return Arrival(referrer, utm)
    return Arrival(referrer)


def _email(rng: Random) -> Arrival:
    campaign = rng.choice(("weekly-deals", "new-arrivals", "cart-reminder"))
    return Arrival("", {"source": "newsletter", "medium": "email", "campaign": campaign})


def _referral(rng: Random) -> Arrival:
    return Arrival(rng.choice(("https://www.notebookcheck.net/", "https://www.rtings.com/monitor")))


def _affiliate(rng: Random) -> Arrival:
    utm = {"source": "techradar", "medium": "affiliate", "campaign": "best-laptops"}
    return Arrival("https://www.techradar.com/", utm)


def _display(rng: Random) -> Arrival:
    utm = {"source": "criteo", "medium": "display", "campaign": rng.choice(CAMPAIGNS)}
    return Arrival("", utm)


# (channel, weight): how sessions arrive.
CHANNELS: tuple[tuple[Callable[[Random], Arrival], float], ...] = (
    (lambda rng: Arrival(""), 0.25),  # direct: typed in, a bookmark
    (_organic_search, 0.30),
    (_paid_search, 0.12),
    (_social, 0.10),
    (_email, 0.08),
    (_referral, 0.08),
    (_affiliate, 0.04),
    (_display, 0.03),
)
# Clients' clocks are rendered in their own offset: RFC 3339 with an offset, not always Z.
CLIENT_OFFSETS = (timedelta(0), timedelta(hours=1), timedelta(hours=2), timedelta(hours=-5))


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    category: str
    brand: str
    price: float
    discount_price: float | None
    url_path: str

    def context(self, quantity: int | None = None) -> dict[str, Any]:
        product: dict[str, Any] = {
            "id": self.product_id,
            "name": self.name,
            "category": self.category,
            "brand": self.brand,
            "price": self.price,
        }
        if self.discount_price is not None:
            product["discount_price"] = self.discount_price
        product["url_path"] = self.url_path
        if quantity is not None:
            product["quantity"] = quantity
        return product


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


# (category, brand, model, base price). The catalogue is fixed, not drawn from the seed, so
# product ids mean the same thing in every run.
_CATALOGUE_ROWS: tuple[tuple[str, str, str, float], ...] = (
    ("laptops", "Lenovo", "ThinkPad X1 Carbon Gen 12", 1899.0),
    ("laptops", "Lenovo", "ThinkPad T14 Gen 5", 1349.0),
    ("laptops", "Lenovo", "IdeaPad Slim 5 14", 749.0),
    ("laptops", "Lenovo", "Legion 5 Pro", 1599.0),
    ("laptops", "Dell", "XPS 13 9340", 1449.0),
    ("laptops", "Dell", "XPS 15 9530", 2099.0),
    ("laptops", "Dell", "Latitude 7440", 1299.0),
    ("laptops", "Dell", "Inspiron 14 Plus", 999.0),
    ("laptops", "HP", "EliteBook 840 G11", 1399.0),
    ("laptops", "HP", "Pavilion Aero 13", 799.0),
    ("laptops", "HP", "Spectre x360 14", 1649.0),
    ("laptops", "Apple", "MacBook Air 13 M3", 1299.0),
    ("laptops", "Apple", "MacBook Air 15 M3", 1599.0),
    ("laptops", "Apple", "MacBook Pro 14 M4", 1999.0),
    ("laptops", "Apple", "MacBook Pro 16 M4 Pro", 2899.0),
    ("laptops", "Asus", "Zenbook 14 OLED", 1099.0),
    ("laptops", "Asus", "ROG Zephyrus G14", 1899.0),
    ("laptops", "Asus", "Vivobook 15", 649.0),
    ("laptops", "Acer", "Swift Go 14", 899.0),
    ("laptops", "Acer", "Aspire 5", 599.0),
    ("laptops", "Framework", "Laptop 13 DIY Edition", 1049.0),
    ("laptops", "Microsoft", "Surface Laptop 7", 1399.0),
    ("monitors", "Dell", "UltraSharp U2724D 27in QHD", 449.0),
    ("monitors", "Dell", "UltraSharp U3224KB 32in 6K", 2999.0),
    ("monitors", "Dell", "S2722QC 27in 4K USB-C", 329.0),
    ("monitors", "LG", "27UP850N 27in 4K", 399.0),
    ("monitors", "LG", "34WN80C 34in UltraWide", 499.0),
    ("monitors", "LG", "UltraGear 27GR95QE OLED", 899.0),
    ("monitors", "Samsung", "Odyssey G7 32in", 649.0),
    ("monitors", "Samsung", "ViewFinity S8 27in 4K", 449.0),
    ("monitors", "Samsung", "Odyssey OLED G9 49in", 1399.0),
    ("monitors", "BenQ", "PD2705U 27in 4K", 499.0),
    ("monitors", "BenQ", "GW2490 24in", 129.0),
    ("monitors", "Asus", "ProArt PA278CV 27in", 399.0),
    ("monitors", "Asus", "TUF VG27AQ 27in", 299.0),
    ("monitors", "Apple", "Studio Display 27in 5K", 1749.0),
    ("monitors", "AOC", "24G2 24in IPS", 169.0),
    ("accessories/keyboards", "Logitech", "MX Keys S", 109.0),
    ("accessories/keyboards", "Logitech", "MX Mechanical Mini", 149.0),
    ("accessories/keyboards", "Keychron", "K2 Pro", 99.0),
    ("accessories/keyboards", "Keychron", "Q1 Max", 219.0),
    ("accessories/keyboards", "Apple", "Magic Keyboard with Touch ID", 149.0),
    ("accessories/keyboards", "Razer", "BlackWidow V4", 169.0),
    ("accessories/keyboards", "Microsoft", "Ergonomic Keyboard", 59.0),
    ("accessories/mice", "Logitech", "MX Master 3S", 99.0),
    ("accessories/mice", "Logitech", "MX Anywhere 3S", 79.0),
    ("accessories/mice", "Logitech", "G502 X Plus", 139.0),
    ("accessories/mice", "Razer", "DeathAdder V3", 89.0),
    ("accessories/mice", "Apple", "Magic Mouse", 79.0),
    ("accessories/mice", "Microsoft", "Bluetooth Mouse", 24.0),
    ("accessories/headsets", "Sony", "WH-1000XM5", 399.0),
    ("accessories/headsets", "Jabra", "Evolve2 65", 229.0),
    ("accessories/headsets", "Logitech", "Zone Vibe 100", 99.0),
    ("accessories/headsets", "SteelSeries", "Arctis Nova 7", 179.0),
    ("accessories/headsets", "Apple", "AirPods Pro 2", 279.0),
    ("accessories/webcams", "Logitech", "C920s Pro HD", 69.0),
    ("accessories/webcams", "Logitech", "Brio 4K", 199.0),
    ("accessories/webcams", "Razer", "Kiyo Pro", 129.0),
    ("accessories/webcams", "Anker", "PowerConf C200", 59.0),
    ("accessories/docks", "CalDigit", "TS4 Thunderbolt 4 Dock", 399.0),
    ("accessories/docks", "Anker", "563 USB-C Dock 10-in-1", 149.0),
    ("accessories/docks", "Dell", "WD22TB4 Thunderbolt Dock", 299.0),
    ("accessories/docks", "Lenovo", "ThinkPad Universal USB-C Dock", 229.0),
    ("accessories/docks", "Belkin", "Connect USB-C 11-in-1", 179.0),
    ("accessories/cables", "Anker", "USB-C to USB-C 2m 100W", 19.0),
    ("accessories/cables", "Belkin", "Thunderbolt 4 Cable 1m", 69.0),
    ("accessories/cables", "Ugreen", "HDMI 2.1 Cable 2m", 15.0),
    ("accessories/cables", "Cable Matters", "DisplayPort 1.4 Cable 2m", 17.0),
    ("accessories/cables", "Apple", "USB-C Charge Cable 2m", 25.0),
    ("accessories/chargers", "Anker", "Prime 100W GaN Charger", 85.0),
    ("accessories/chargers", "Ugreen", "Nexode 65W", 45.0),
    ("accessories/chargers", "Apple", "70W USB-C Power Adapter", 65.0),
    ("accessories/bags", "Peak Design", "Everyday Backpack 20L", 279.0),
    ("accessories/bags", "Tomtoc", "360 Protective Laptop Sleeve 14in", 35.0),
    ("accessories/bags", "Incase", "Icon Backpack", 149.0),
    ("accessories/stands", "Rain Design", "mStand Laptop Stand", 49.0),
    ("accessories/stands", "Ergotron", "LX Desk Monitor Arm", 189.0),
    ("accessories/stands", "Twelve South", "Curve Flex", 79.0),
    ("storage/ssd", "Samsung", "990 Pro 2TB NVMe", 179.0),
    ("storage/ssd", "Samsung", "T7 Shield 1TB Portable", 109.0),
    ("storage/ssd", "WD", "Black SN850X 1TB", 99.0),
    ("storage/ssd", "Crucial", "X9 Pro 2TB Portable", 149.0),
    ("storage/ssd", "SanDisk", "Extreme Portable 2TB", 169.0),
)


def _build_catalogue() -> tuple[Product, ...]:
    products = []
    for index, (category, brand, model, price) in enumerate(_CATALOGUE_ROWS, start=1):
        name = f"{brand} {model}"
        # Every third product is on sale: a stable 5-25 % discount, rounded to .99.
        discount_price = None
        if index % 3 == 0:
            percent = 5 + (index * 7) % 21
            discount_price = max(round(price * (100 - percent) / 100) - 0.01, 0.0)
        products.append(
            Product(
                product_id=f"P{index:04d}",
                name=name,
                category=category,
                brand=brand,
                price=price,
                discount_price=discount_price,
                url_path=f"/p/{_slug(name)}",
            )
        )
    return tuple(products)


CATALOGUE: tuple[Product, ...] = _build_catalogue()
CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(p.category for p in CATALOGUE))
# Zipf-like popularity: a few best sellers, a long tail.
_POPULARITY = tuple(1.0 / (rank + 3) for rank in range(len(CATALOGUE)))


@dataclass(frozen=True)
class Request:
    """One POST /clickstream from a browser: consecutive events of one session."""

    events: tuple[dict[str, Any], ...]
    received_at: datetime
    request_id: str
    source_ip: str
    user_agent: str

    def lines(self) -> list[dict[str, Any]]:
        """The events as the ingest Lambda stores them: each with its `ingest` block."""
        block = ingest_block(self.received_at, self.request_id, self.source_ip, self.user_agent)
        return [{**event, "ingest": block} for event in self.events]

    def object_key(self, prefix: str) -> str:
        """Deterministic: writing the same traffic twice writes the same objects."""
        return raw_object_key(prefix, self.received_at, self.request_id)

    def ndjson(self) -> bytes:
        return encode_ndjson(self.lines())


@dataclass
class TrafficStats:
    """What a generation produced (filled in while the requests are consumed)."""

    requests: int = 0
    lines: int = 0
    distinct_events: int = 0
    sessions: int = 0
    retried_requests: int = 0
    late_requests: int = 0
    skewed_sessions: int = 0
    events_by_name: dict[str, int] = field(default_factory=dict)


@dataclass
class _Client:
    client_id: str
    user_id: str | None
    source_ip: str
    user_agent: str
    offset: timedelta
    sessions: int = 0
    device: Device | None = None  # None: a bot, which reports no browser
    language: str | None = None

    @property
    def is_bot(self) -> bool:
        return self.device is None


class _Session:
    """Builds one visit's events, step by step, on a clock that advances between events."""

    def __init__(
        self, rng: Random, client: _Client, session_id: str, start: datetime, skew: timedelta
    ) -> None:
        self.rng = rng
        self.client = client
        self.session_id = session_id
        self.clock = start
        self.skew = skew
        self.logged_in = client.user_id is not None and rng.random() < P_LOGGED_IN_WHEN_ACCOUNT
        self.first_visit = client.sessions == 0
        self.arrival = Arrival("") if client.is_bot else _weighted_choice(rng, CHANNELS)(rng)
        self.referrer = self.arrival.referrer
        self.events: list[tuple[datetime, dict[str, Any]]] = []
        # the page view in progress: its id, path, title, start and deepest scroll so far
        self.page_view_id: str | None = None
        self.page_path = ""
        self.page_title = ""
        self.page_started = start
        self.scroll_depth = 0

    def _advance(self, low: float, high: float) -> None:
        self.clock += timedelta(seconds=self.rng.uniform(low, high))

    def emit(
        self,
        event_name: str,
        path: str,
        title: str,
        product: dict[str, Any] | None = None,
        order_id: str | None = None,
        at: datetime | None = None,
        ping: dict[str, Any] | None = None,
    ) -> None:
        """One event at the session's clock (then the clock moves on), or `at` (a ping)."""
        happened = at or self.clock
        client_clock = (happened + self.skew).astimezone(timezone(self.client.offset))
        landing = not self.events
        event: dict[str, Any] = {
            "event_id": str(_uuid(self.rng)),
            "event_timestamp": client_clock.isoformat(timespec="milliseconds"),
            "event_name": event_name,
            "session_id": self.session_id,
            "client_id": self.client.client_id,
            "user_id": self.client.user_id if self.logged_in else None,
            "user_login_state": "logged_in" if self.logged_in else "guest",
            "identity_source": IDENTITY_SOURCE if self.logged_in else None,
            "is_first_visit": self.first_visit,
            "page": {
                "url": f"{SHOP_URL}{path}" + (self.arrival.query() if landing else ""),
                "path": path,
                "title": f"{title} | {SHOP_NAME}",
                "referrer": self.referrer if landing else SHOP_URL + "/",
            },
        }
        if not self.client.is_bot:  # the tracker's fields; a crawler runs no tracker
            event["page"]["page_view_id"] = self.page_view_id
            if self.arrival.utm:
                event["page"]["utm"] = dict(self.arrival.utm)
            if self.arrival.click_ids:
                event["page"]["click_ids"] = dict(self.arrival.click_ids)
        context: dict[str, Any] = {}
        if product is not None:
            context["product"] = product
        if order_id is not None:
            context["order"] = {"order_id": order_id, "currency": CURRENCY}
        if self.client.device is not None:
            device = self.client.device
            context["browser"] = {
                "language": self.client.language,
                "screen_width": device.screen[0],
                "screen_height": device.screen[1],
                "viewport_width": device.viewport[0],
                "viewport_height": device.viewport[1],
            }
        if ping is not None:
            context["ping"] = ping
        if context:
            event["context"] = context
        self.events.append((happened, event))
        if at is None:
            self._advance(0.3, 2.0)  # the next event is at least a moment later

    def page_view(self, path: str, title: str) -> None:
        self.send_page_pings()
        self.page_view_id = str(_uuid(self.rng))
        self.page_path, self.page_title = path, title
        self.page_started = self.clock
        self.scroll_depth = 0
        self.emit("page_view", path, title)

    def send_page_pings(self) -> None:
        """The pings of the page view in progress, every PING_SECONDS from its start until
        now (the visitor leaves it), when its tab stayed visible and focused."""
        if self.page_view_id is None or self.client.is_bot:
            return
        if self.rng.random() >= P_PAGE_PINGS:
            return
        stayed = (self.clock - self.page_started).total_seconds()
        pings = min(int(stayed // PING_SECONDS), MAX_PINGS_PER_PAGE)
        for number in range(1, pings + 1):
            self.scroll_depth = min(100, self.scroll_depth + self.rng.randrange(0, 35))
            ping = {
                "engaged_seconds": round(self.rng.uniform(4, PING_SECONDS), 1),
                "max_scroll_depth_pct": self.scroll_depth,
            }
            at = self.page_started + timedelta(seconds=PING_SECONDS * number)
            self.emit("page_ping", self.page_path, self.page_title, at=at, ping=ping)

    def leave(self) -> None:
        """The visitor reads the last page a while, then goes: its pings; events in time
        order (pings are made when their page view ends, after the page's other events)."""
        self._advance(5, 60)
        self.send_page_pings()
        self.events.sort(key=lambda timed: timed[0])

    def crawl(self) -> None:
        """A crawler: pages and product pages, never a cart."""
        self.page_view("/", "Home")
        for _ in range(1 + _small_count(self.rng, mean_extra=3)):
            self._advance(1, 5)
            if self.rng.random() < 0.5:
                self._category_page(self.rng.choice(CATEGORIES))
            else:
                self._product_page(_pick_product(self.rng))

    def walk(self) -> None:
        """Landing page, some browsing, then the funnel with its drop-off."""
        rng = self.rng
        landing = rng.random()
        if landing < 0.45:
            self.page_view("/", "Home")
        else:
            self._category_page(rng.choice(CATEGORIES))
        for _ in range(_small_count(rng, mean_extra=0.8)):
            self._advance(5, 60)
            self._category_page(rng.choice(CATEGORIES))
        if rng.random() >= P_VIEW_PRODUCT:
            return
        viewed = [self._product_page(_pick_product(rng))]
        for _ in range(_small_count(rng, mean_extra=0.7)):
            viewed.append(self._product_page(_pick_product(rng)))
        if rng.random() >= P_ADD_TO_CART:
            return
        cart = self._fill_cart(viewed)
        if not cart or rng.random() >= P_CHECKOUT:
            return
        if self.client.user_id and not self.logged_in and rng.random() < P_LOG_IN_AT_CHECKOUT:
            self.logged_in = True  # from here on, the events carry the user_id
        self._advance(10, 120)
        self.page_view("/cart", "Your cart")
        self._advance(10, 90)
        order_id = f"ord-{_uuid(rng).hex[:16]}"
        self.emit("checkout", "/checkout", "Checkout", order_id=order_id)
        if rng.random() >= P_PURCHASE:
            return
        self._advance(30, 240)  # filling in the address and paying
        for product, quantity in cart:
            context = product.context(quantity)
            self.emit("purchase", "/checkout/complete", "Thank you", context, order_id)

    def _category_page(self, category: str) -> None:
        title = category.split("/")[-1].replace("-", " ").title()
        self.page_view(f"/c/{category}", title)

    def _product_page(self, product: Product) -> Product:
        self._advance(5, 90)
        self.page_view(product.url_path, product.name)
        self.emit("product_view", product.url_path, product.name, product.context())
        return product

    def _fill_cart(self, viewed: list[Product]) -> list[tuple[Product, int]]:
        rng = self.rng
        cart: list[tuple[Product, int]] = []
        for product in dict.fromkeys(viewed):
            if cart and rng.random() < 0.6:
                continue
            quantity = 1 if product.category in {"laptops", "monitors"} else rng.choice((1, 1, 2))
            if product.category == "monitors" and rng.random() < 0.1:
                quantity = 2
            self._advance(5, 60)
            context = product.context(quantity)
            self.emit("add_to_cart", product.url_path, product.name, context)
            cart.append((product, quantity))
        if rng.random() < P_REMOVE_FROM_CART:
            product, quantity = cart.pop(rng.randrange(len(cart)))
            self._advance(5, 60)
            self.emit("remove_from_cart", "/cart", "Your cart", product.context(quantity))
            if not cart:  # changed their mind: another product instead
                replacement = self._product_page(_pick_product(rng))
                self._advance(5, 60)
                self.emit(
                    "add_to_cart", replacement.url_path, replacement.name, replacement.context(1)
                )
                cart.append((replacement, 1))
        return cart


class _TrafficRandom(Random):
    """The generator's one source of randomness (reproducible, not secret). Its ids are the
    seed's draws mixed with a mask of the start date: the draws (so the traffic's shape) are
    the same on any date, the ids are not."""

    def __init__(self, seed: int, start: date) -> None:
        super().__init__(seed)
        digest = hashlib.sha256(start.isoformat().encode()).digest()
        self.id_mask = int.from_bytes(digest[:16], "big")


def _uuid(rng: Random) -> uuid.UUID:
    mask = rng.id_mask if isinstance(rng, _TrafficRandom) else 0
    return uuid.UUID(int=rng.getrandbits(128) ^ mask, version=4)


def _weighted_choice(rng: Random, options: Iterable[tuple[_Choice, float]]) -> _Choice:
    values, weights = zip(*options, strict=True)
    return rng.choices(values, weights=weights)[0]


def _small_count(rng: Random, mean_extra: float) -> int:
    """0, 1, 2... with a geometric tail; mean about `mean_extra`."""
    count = 0
    keep_going = mean_extra / (1 + mean_extra)
    while count < 6 and rng.random() < keep_going:
        count += 1
    return count


def _pick_product(rng: Random) -> Product:
    return rng.choices(CATALOGUE, weights=_POPULARITY)[0]


def _random_ip(rng: Random) -> str:
    if rng.random() < 0.15:
        groups = [0x2001, 0x0DB8, rng.randrange(0x10000), rng.randrange(0x10000)]
        groups += [rng.randrange(0x10000) for _ in range(4)]
        return ":".join(f"{group:x}" for group in groups)
    octets = (rng.randrange(11, 223), rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))
    return ".".join(map(str, octets))


def hourly_budget(events: int, start: date, days: int) -> list[tuple[datetime, int]]:
    """Share `events` among the hours in proportion to their weight, exactly (largest
    remainders), so that the generation makes exactly `events` events."""
    hours = [
        datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(hours=h)
        for h in range(days * 24)
    ]
    weights = [HOUR_WEIGHTS[h.hour] * WEEKDAY_WEIGHTS[h.weekday()] for h in hours]
    total = sum(weights)
    exact = [events * weight / total for weight in weights]
    shares = [int(value) for value in exact]
    by_remainder = sorted(range(len(hours)), key=lambda i: (shares[i] - exact[i], i))
    for index in by_remainder[: events - sum(shares)]:
        shares[index] += 1
    return list(zip(hours, shares, strict=True))


def generate_requests(
    events: int,
    days: int = 1,
    start: date | None = None,
    seed: int = 1,
    *,
    retry_rate: float = DEFAULT_RETRY_RATE,
    late_rate: float = DEFAULT_LATE_RATE,
    skew_rate: float = DEFAULT_SKEW_RATE,
    max_batch: int = DEFAULT_MAX_BATCH,
    stats: TrafficStats | None = None,
) -> Iterator[Request]:
    """Yield the requests of `events` distinct events over `days` days from `start` (UTC).

    Streams: memory stays small whatever `events` is (one session at a time, plus the list of
    known clients). Requests come roughly in time order, not exactly (late and retried ones
    are yielded with their session)."""
    if events < 0 or days < 1 or max_batch < 1:
        raise ValueError("events must be >= 0, days >= 1 and max_batch >= 1")
    start = start or default_start(days)
    stats = stats if stats is not None else TrafficStats()
    rng = _TrafficRandom(seed, start)
    known_clients: list[_Client] = []
    for hour, budget in hourly_budget(events, start, days):
        new_clients: list[_Client] = []
        remaining = budget
        while remaining > 0:
            if rng.random() < P_BOT_SESSION:
                client = _new_bot(rng)  # crawlers come back as new clients: no cookies
            elif known_clients and rng.random() < P_RETURNING_CLIENT:
                client = rng.choice(known_clients)
            else:
                client = _new_client(rng)
                new_clients.append(client)
            session_start = hour + timedelta(seconds=rng.uniform(0, 3600))
            skewed = rng.random() < skew_rate
            skew = timedelta(hours=rng.uniform(2, 6)) if skewed else timedelta(0)
            session = _Session(rng, client, f"s-{_uuid(rng).hex}", session_start, skew)
            if client.is_bot:
                session.crawl()
            else:
                session.walk()
            session.leave()
            client.sessions += 1
            timed_events = session.events[:remaining]
            remaining -= len(timed_events)
            stats.sessions += 1
            stats.skewed_sessions += skewed
            yield from _session_requests(
                rng, client, timed_events, retry_rate, late_rate, max_batch, stats
            )
        known_clients.extend(new_clients)


def _new_client(rng: Random) -> _Client:
    has_account = rng.random() < P_CLIENT_HAS_ACCOUNT
    devices, weights = zip(*DEVICES, strict=True)
    device = rng.choices(devices, weights=weights)[0]
    return _Client(
        client_id=f"c-{_uuid(rng).hex}",
        user_id=f"u-{rng.randrange(10**7):07d}" if has_account else None,
        source_ip=_random_ip(rng),
        user_agent=device.user_agent,
        offset=rng.choice(CLIENT_OFFSETS),
        device=device,
        language=_weighted_choice(rng, LANGUAGES),
    )


def _new_bot(rng: Random) -> _Client:
    return _Client(
        client_id=f"c-{_uuid(rng).hex}",
        user_id=None,
        source_ip=_random_ip(rng),
        user_agent=rng.choice(BOT_USER_AGENTS),
        offset=timedelta(0),
    )


def _session_requests(
    rng: Random,
    client: _Client,
    timed_events: list[tuple[datetime, dict[str, Any]]],
    retry_rate: float,
    late_rate: float,
    max_batch: int,
    stats: TrafficStats,
) -> Iterator[Request]:
    """Cut a session's events into consecutive batches, as a tracker flushes its queue."""
    position = 0
    while position < len(timed_events):
        size = min(rng.randint(1, max_batch), len(timed_events) - position)
        batch = timed_events[position : position + size]
        position += size
        last_event_at = batch[-1][0]
        delay = timedelta(milliseconds=rng.uniform(40, 1500))
        if rng.random() < late_rate:
            delay = timedelta(hours=rng.uniform(1, 8))  # kept across a reload, sent later
            stats.late_requests += 1
        request = Request(
            events=tuple(event for _, event in batch),
            received_at=last_event_at + delay,
            request_id=str(_uuid(rng)),
            source_ip=client.source_ip,
            user_agent=client.user_agent,
        )
        _count(stats, request, distinct=True)
        yield request
        if rng.random() < retry_rate:
            # The answer was lost: the tracker sends the same events again, same ids.
            retry = Request(
                events=request.events,
                received_at=request.received_at + timedelta(seconds=rng.uniform(1, 120)),
                request_id=str(_uuid(rng)),
                source_ip=client.source_ip,
                user_agent=client.user_agent,
            )
            stats.retried_requests += 1
            _count(stats, retry, distinct=False)
            yield retry


def _count(stats: TrafficStats, request: Request, *, distinct: bool) -> None:
    stats.requests += 1
    stats.lines += len(request.events)
    if distinct:
        stats.distinct_events += len(request.events)
        for event in request.events:
            name = event["event_name"]
            stats.events_by_name[name] = stats.events_by_name.get(name, 0) + 1


def default_start(days: int, today: date | None = None) -> date:
    """The last `days` full days before today (UTC): the same dates all day long, so that
    running the demo twice regenerates the same events."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=days)


# ---------------------------------------------------------------------------- writing


RequestSink = Callable[[Request], None]


@dataclass
class WriteSummary:
    objects: int = 0
    lines: int = 0
    requests: int = 0


@dataclass
class _PendingObject:
    received_at: datetime
    first_request_id: str
    lines: list[dict[str, Any]] = field(default_factory=list)


class _BoundedPool:
    """A thread pool that accepts at most `limit` unfinished tasks, so that a generator of a
    million requests never sits in memory waiting for its uploads."""

    def __init__(self, workers: int, limit: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="put")
        self._pending: set[Future[None]] = set()
        self._limit = limit

    def submit(self, task: Callable[[], None]) -> None:
        while len(self._pending) >= self._limit:
            done, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()  # re-raise an upload error here, in the caller's thread
        self._pending.add(self._executor.submit(task))

    def finish(self) -> None:
        try:
            for future in self._pending:
                future.result()
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)


def write_requests(
    requests: Iterable[Request], sink: RequestSink, workers: int = 8
) -> WriteSummary:
    """Hand each request to `sink` (an S3 put, or the ingest handler) on a thread pool."""
    summary = WriteSummary()
    pool = _BoundedPool(workers, limit=workers * 4)
    try:
        for request in requests:
            pool.submit(lambda request=request: sink(request))  # type: ignore[misc]
            summary.requests += 1
            summary.objects += 1
            summary.lines += len(request.events)
    finally:
        pool.finish()
    return summary


def s3_sink(bucket: str, prefix: str, client: S3Client) -> RequestSink:
    """One object per request, as the ingest Lambda writes them."""

    def put(request: Request) -> None:
        _put(client, bucket, request.object_key(prefix), request.ndjson())

    return put


def directory_sink(directory: Path, prefix: str) -> RequestSink:
    """The same layout on a local disk (for looking at the data, or another uploader)."""

    def write(request: Request) -> None:
        path = directory / request.object_key(prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(request.ndjson())

    return write


def write_requests_to_s3(
    requests: Iterable[Request],
    bucket: str,
    prefix: str,
    client: S3Client,
    *,
    events_per_object: int | None = None,
    workers: int = 8,
) -> WriteSummary:
    """Write the requests as raw objects. With `events_per_object`, requests received in the
    same hour are packed into objects of about that many lines (for benchmarks: a million
    events in a thousand objects); each line still carries its own request's ingest block."""
    if not events_per_object:
        return write_requests(requests, s3_sink(bucket, prefix, client), workers)
    summary = WriteSummary()
    pool = _BoundedPool(workers, limit=workers * 2)
    open_objects: dict[str, _PendingObject] = {}

    def flush(pending: _PendingObject) -> None:
        key = raw_object_key(prefix, pending.received_at, _packed_object_id(pending))
        body = encode_ndjson(pending.lines)
        pool.submit(lambda: _put(client, bucket, key, body))
        summary.objects += 1
        summary.lines += len(pending.lines)

    try:
        for request in requests:
            summary.requests += 1
            hour = request.object_key("")[:14]  # YYYY/MM/DD/HH/
            pending = open_objects.get(hour)
            if pending is None:
                pending = open_objects[hour] = _PendingObject(
                    request.received_at, request.request_id
                )
            pending.lines.extend(request.lines())
            if len(pending.lines) >= events_per_object:
                flush(open_objects.pop(hour))
        for pending in open_objects.values():
            flush(pending)
    finally:
        pool.finish()
    return summary


def _packed_object_id(pending: _PendingObject) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"packed:{pending.first_request_id}"))


def _put(client: S3Client, bucket: str, key: str, body: bytes) -> None:
    try:
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")
    except Exception as error:  # botocore raises many unrelated classes for the same cause
        raise BucketUnreachableError(f"cannot write s3://{bucket}/{key}: {error}") from error


# ---------------------------------------------------------------------------- CLI


def parse_date(text: str) -> date:
    """`YYYY-MM-DD` for argparse (`--start`), with a one-line message when it is not."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.traffic",
        description="Generate a computer shop's clickstream and write it as raw S3 objects.",
    )
    parser.add_argument("--events", type=int, default=20000, help="distinct events")
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument(
        "--start", type=parse_date, help="first day, UTC (default: the last DAYS full days)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bucket", help="default: $RAW_BUCKET")
    parser.add_argument("--prefix", help="default: $RAW_PREFIX")
    parser.add_argument(
        "--events-per-object", type=int, help="pack requests of an hour into bigger objects"
    )
    parser.add_argument(
        "--output-dir", type=Path, help="write the objects under this directory, not to S3"
    )
    parser.add_argument("--retry-rate", type=float, default=DEFAULT_RETRY_RATE)
    parser.add_argument("--late-rate", type=float, default=DEFAULT_LATE_RATE)
    parser.add_argument("--skew-rate", type=float, default=DEFAULT_SKEW_RATE)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    bucket = args.bucket or settings.raw_bucket
    prefix = args.prefix if args.prefix is not None else settings.raw_prefix
    stats = TrafficStats()
    try:
        requests = generate_requests(
            args.events,
            args.days,
            args.start,
            args.seed,
            retry_rate=args.retry_rate,
            late_rate=args.late_rate,
            skew_rate=args.skew_rate,
            stats=stats,
        )
        if args.output_dir:
            written = write_requests(requests, directory_sink(args.output_dir, prefix))
            target = str(args.output_dir / prefix)
        else:
            from clickstream.storage import s3_client

            written = write_requests_to_s3(
                requests, bucket, prefix, s3_client(), events_per_object=args.events_per_object
            )
            target = f"s3://{bucket}/{prefix}"
    except (ClickstreamError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"{stats.distinct_events} events in {stats.sessions} sessions, {stats.lines} lines "
        f"({stats.retried_requests} retried, {stats.late_requests} late requests, "
        f"{stats.skewed_sessions} skewed sessions), {written.objects} objects -> {target}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
