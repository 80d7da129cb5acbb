"""The whole path from a real browser: Debian's headless Chromium (driven by Playwright) walks
the demo shop to a purchase through the local server (`make serve`'s code, the real ingest
handler); the events are then found in S3, and after the hourly run (the loader, then
`dbt build`) in `clickstream_events`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from clickstream.config import PROJECT_ROOT
from clickstream.storage import s3_client
from clickstream.warehouse import connect
from devtools.browser import MISSING_CHROMIUM, chromium, chromium_path
from devtools.dbt_cli import run_dbt
from lambdas.ingest.handler import IngestSettings
from lambdas.ingest.server import running_server

PRODUCT_ID = "P0005"  # Dell XPS 13 9340 in tracker/shop/catalogue.json
QUANTITY = 2
WAIT_MS = 20_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_path() is None, reason=MISSING_CHROMIUM),
]


def walk_to_a_purchase(page: Page, shop_url: str) -> dict[str, str]:
    """List -> product page -> add to cart -> cart -> checkout -> place order -> thank you."""
    page.goto(f"{shop_url}/shop/")
    page.wait_for_selector("body[data-ready=true]")
    page.click(f"[data-product-id={PRODUCT_ID}] a")
    page.wait_for_selector("#add-to-cart")
    page.fill("#quantity", str(QUANTITY))
    page.click("#add-to-cart")
    page.click("#go-to-cart")
    page.wait_for_selector("#checkout")
    page.click("#checkout")
    page.wait_for_selector("#place-order")
    page.click("#place-order")
    page.wait_for_selector("#order-id")
    # Everything the tracker queued has been acknowledged by the endpoint.
    page.wait_for_function("window.clickstream.pending() === 0", timeout=WAIT_MS)
    ids: dict[str, str] = page.evaluate(
        "({client_id: clickstream.clientId(), session_id: clickstream.sessionId(),"
        " order_id: document.getElementById('order-id').textContent})"
    )
    return ids


@pytest.fixture(scope="module")
def purchase(module_raw_bucket: str) -> dict[str, Any]:
    """Walk the shop once for the module; the bucket then holds what the browser sent."""
    settings = IngestSettings(raw_bucket=module_raw_bucket, raw_prefix="events/")
    with running_server(settings=settings) as server, chromium() as browser:
        page = browser.new_page()
        warnings: list[str] = []
        page.on(
            "console",
            lambda message: (
                warnings.append(message.text) if message.type in ("warning", "error") else None
            ),
        )
        ids = walk_to_a_purchase(page, server.url)
    return {**ids, "bucket": module_raw_bucket, "console": warnings}


def raw_lines(bucket: str) -> list[dict[str, Any]]:
    client = s3_client()
    lines = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            raw = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            lines += [json.loads(line) for line in raw.splitlines()]
    return lines


def test_the_shop_s_events_reach_s3(purchase: dict[str, Any]) -> None:
    assert purchase["console"] == []  # no rejected event, no failed request
    lines = raw_lines(purchase["bucket"])
    # At least once: a page being left sends its queue with keepalive, and the next page may
    # send it again; the warehouse keeps one row per event_id.
    events = {line["event_id"]: line for line in lines}
    assert {line["session_id"] for line in events.values()} == {purchase["session_id"]}
    assert {line["client_id"] for line in events.values()} == {purchase["client_id"]}
    by_name: dict[str, list[dict[str, Any]]] = {}
    for event in events.values():
        by_name.setdefault(event["event_name"], []).append(event)
    assert {name: len(found) for name, found in by_name.items()} == {
        "page_view": 5,  # list, product, cart, checkout, thank you
        "product_view": 1,
        "add_to_cart": 1,
        "checkout": 1,
        "purchase": 1,
    }
    (purchased,) = by_name["purchase"]
    assert purchased["context"]["product"]["id"] == PRODUCT_ID
    assert purchased["context"]["product"]["name"] == "Dell XPS 13 9340"
    assert purchased["context"]["product"]["quantity"] == QUANTITY
    assert purchased["context"]["order"] == {"order_id": purchase["order_id"], "currency": "EUR"}
    assert by_name["checkout"][0]["context"]["order"]["order_id"] == purchase["order_id"]
    assert by_name["add_to_cart"][0]["context"]["product"]["id"] == PRODUCT_ID
    assert all(event["is_first_visit"] is True for event in events.values())
    # without data-consent the tracker works as before consent existed: no consent_state
    assert all("consent_state" not in event for event in events.values())
    assert {event["ingest"]["source_ip"] for event in events.values()} == {"127.0.0.0"}
    assert "HeadlessChrome" in purchased["ingest"]["user_agent"]


def _run(argv: list[str]) -> None:
    """Run one step of `make hourly` against this module's bucket and database."""
    completed = subprocess.run(
        argv,
        cwd=PROJECT_ROOT,
        env=dict(os.environ),  # PGDATABASE and RAW_BUCKET name the test's own
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, (
        f"{' '.join(argv)} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    )


def test_the_shop_s_events_reach_clickstream_events(
    purchase: dict[str, Any], module_warehouse_db: str, tmp_path: Path
) -> None:
    _run([sys.executable, "-m", "extract_load", "load"])
    # Its own target and log folders: other runs may share dbt_project/target.
    run_dbt(
        "build",
        "--target-path",
        str(tmp_path / "target"),
        "--log-path",
        str(tmp_path / "logs"),
        quiet=True,
    )
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "select event_name, context_product_id, product_quantity, order_id"
            " from public.clickstream_events where session_id = %s",
            (purchase["session_id"],),
        )
        rows = cursor.fetchall()
    conn.close()
    names = sorted(row[0] for row in rows)
    assert names == sorted(
        ["page_view"] * 5 + ["product_view", "add_to_cart", "checkout", "purchase"]
    )
    (purchased,) = [row for row in rows if row[0] == "purchase"]
    assert purchased[1:] == (PRODUCT_ID, QUANTITY, purchase["order_id"])


def test_unsent_events_survive_a_reload_and_are_retried(raw_bucket: str) -> None:
    """While the endpoint fails (503), events wait in localStorage; after a reload and once
    the endpoint answers again, the backoff retry delivers them all."""
    settings = IngestSettings(raw_bucket=raw_bucket, raw_prefix="events/")
    with running_server(settings=settings) as server, chromium() as browser:
        page = browser.new_page()
        failed: list[str] = []

        def unavailable(route: Any) -> None:
            failed.append(route.request.method)
            route.fulfill(status=503, content_type="application/json", body='{"error":"down"}')

        page.route("**/clickstream", unavailable)
        page.goto(f"{server.url}/shop/")
        page.wait_for_function("window.clickstream.pending() === 1")
        for _ in range(100):  # the first send (after about a second) fails
            if failed:
                break
            page.wait_for_timeout(100)
        page.reload()
        page.wait_for_selector("body[data-ready=true]")
        queued = page.evaluate("JSON.parse(localStorage.getItem('clickstream.queue'))")
        assert [event["event_name"] for event in queued] == ["page_view", "page_view"]
        assert failed  # the endpoint was tried and failed
        page.unroute("**/clickstream")
        page.wait_for_function("window.clickstream.pending() === 0", timeout=WAIT_MS)
    stored = {line["event_id"] for line in raw_lines(raw_bucket)}
    assert stored == {event["event_id"] for event in queued}


# ------------------------------------------------------------------------------ consent

CONSENT_SCRIPT_TAG = 'data-endpoint="/clickstream" data-consent="required"'
TRACKER_STORAGE = "Object.keys(localStorage).filter((key) => key.startsWith('clickstream.')).sort()"


def require_consent(page: Page) -> None:
    """Serve the shop's pages as a site that must ask first: data-consent="required" on the
    tracker's script tag (the shop shows its banner then)."""

    def with_consent_required(route: Any) -> None:
        response = route.fetch()
        if "text/html" not in response.headers.get("content-type", ""):
            route.fulfill(response=response)
            return
        body = response.text().replace('data-endpoint="/clickstream"', CONSENT_SCRIPT_TAG)
        route.fulfill(response=response, body=body)

    page.route("**/shop/**", with_consent_required)


def posted_events(page: Page) -> list[dict[str, Any]]:
    """Every event the page POSTs to the ingest endpoint, as it sends them (kept up to date)."""
    events: list[dict[str, Any]] = []

    def record(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/clickstream"):
            events.extend(request.post_data_json["events"])

    page.on("request", record)
    return events


def names_and_states(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """(event_name, consent_state) of each distinct event (at least once: a page being left
    may send its queue again), in the order first sent."""
    distinct = {event["event_id"]: event for event in events}.values()
    return [(event["event_name"], event.get("consent_state")) for event in distinct]


def settle(page: Page) -> None:
    """Everything the tracker queued has been acknowledged, and no request is under way."""
    page.wait_for_function("window.clickstream.pending() === 0", timeout=WAIT_MS)
    page.wait_for_load_state("networkidle")


def test_with_consent_required_nothing_is_sent_before_consent_nor_after_withdrawal(
    raw_bucket: str,
) -> None:
    settings = IngestSettings(raw_bucket=raw_bucket, raw_prefix="events/")
    with running_server(settings=settings) as server, chromium() as browser:
        page = browser.new_page()
        require_consent(page)
        posted = posted_events(page)

        # Before any choice: the banner asks; browsing and adding to the cart send nothing,
        # queue nothing and write no id.
        page.goto(f"{server.url}/shop/")
        page.wait_for_selector("body[data-ready=true]")
        page.wait_for_selector("#consent-banner")
        page.click(f"[data-product-id={PRODUCT_ID}] a")
        page.wait_for_selector("#add-to-cart")
        page.click("#add-to-cart")
        settle(page)
        assert page.evaluate("clickstream.consentState()") is None
        assert page.evaluate(TRACKER_STORAGE) == []
        assert page.evaluate("clickstream.clientId()") is None
        assert posted == []

        # Granted: a consent_update, then this page's view, and every event says granted.
        page.click("#consent-accept")
        settle(page)
        assert page.query_selector("#consent-banner") is None
        assert names_and_states(posted) == [
            ("consent_update", "granted"),
            ("page_view", "granted"),
        ]
        client_id = page.evaluate("clickstream.clientId()")
        page.click("#add-to-cart")
        page.click("#go-to-cart")  # a new page: the choice is remembered, no banner
        page.wait_for_selector("#checkout")
        settle(page)
        assert page.query_selector("#consent-banner") is None
        assert names_and_states(posted)[2:] == [
            ("add_to_cart", "granted"),
            ("page_view", "granted"),
        ]

        # Withdrawn: one consent_update denied is sent, the ids are forgotten, then nothing.
        page.click("#privacy-choices")
        page.click("#consent-decline")
        settle(page)
        assert names_and_states(posted)[4:] == [("consent_update", "denied")]
        assert page.evaluate(TRACKER_STORAGE) == ["clickstream.consent"]
        sent_before_leaving = len(posted)
        page.click("#checkout")
        page.wait_for_selector("#place-order")
        page.click("#place-order")
        page.wait_for_selector("#order-id")
        settle(page)
        assert page.query_selector("#consent-banner") is None  # denied is a choice too
        assert len(posted) == sent_before_leaving
        assert page.evaluate(TRACKER_STORAGE) == ["clickstream.consent"]

    stored = raw_lines(raw_bucket)
    assert sorted(names_and_states(stored)) == sorted(names_and_states(posted))
    assert {line["client_id"] for line in stored} == {client_id}


def test_declining_at_once_sends_nothing_at_all(raw_bucket: str) -> None:
    settings = IngestSettings(raw_bucket=raw_bucket, raw_prefix="events/")
    with running_server(settings=settings) as server, chromium() as browser:
        page = browser.new_page()
        require_consent(page)
        posted = posted_events(page)
        page.goto(f"{server.url}/shop/")
        page.wait_for_selector("#consent-banner")
        page.click("#consent-decline")  # never granted: no withdrawal to record
        page.click(f"[data-product-id={PRODUCT_ID}] a")
        page.wait_for_selector("#add-to-cart")
        page.click("#add-to-cart")
        settle(page)
        assert page.evaluate("clickstream.consentState()") == "denied"
        assert page.evaluate(TRACKER_STORAGE) == ["clickstream.consent"]
        assert posted == []
    assert raw_lines(raw_bucket) == []


# ------------------------------------------------------------- acquisition (issue 11)

# A person's browser, not a headless one: crawlerdetect (rightly) calls HeadlessChrome a bot,
# and the marts leave bots out.
DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/130.0.0.0 Safari/537.36"
)
LANDING_QUERY = "?utm_source=google&utm_medium=cpc&utm_campaign=spring-laptops&gclid=e2e-click"
FAST_PINGS = 'data-endpoint="/clickstream" data-ping-seconds="1"'


def ping_every_second(page: Page) -> None:
    """Serve the shop's pages with a 1-second ping interval (the default is 15 s)."""

    def with_fast_pings(route: Any) -> None:
        response = route.fetch()
        if "text/html" not in response.headers.get("content-type", ""):
            route.fulfill(response=response)
            return
        route.fulfill(
            response=response,
            body=response.text().replace('data-endpoint="/clickstream"', FAST_PINGS),
        )

    page.route("**/shop/**", with_fast_pings)


def test_a_utm_tagged_landing_lands_with_its_channel_and_pings(
    raw_bucket: str, warehouse_db: str, tmp_path: Path
) -> None:
    """A paid-search landing: every event of the session carries the landing URL's UTM and
    gclid (kept in sessionStorage across pages), page views have ids and send pings while
    engaged; in the warehouse the session is Paid Search with that campaign, and its pings
    give its page views engaged time."""
    settings = IngestSettings(raw_bucket=raw_bucket, raw_prefix="events/")
    with running_server(settings=settings) as server, chromium(DESKTOP_CHROME) as browser:
        page = browser.new_page()
        ping_every_second(page)
        page.goto(f"{server.url}/shop/index.html{LANDING_QUERY}")
        page.wait_for_selector("body[data-ready=true]")
        for _ in range(4):  # an engaged visitor: active, the page visible and focused
            page.mouse.move(100, 100)
            page.wait_for_timeout(600)
            page.mouse.move(200, 200)
            page.wait_for_timeout(600)
        page.click(f"[data-product-id={PRODUCT_ID}] a")  # a second page: no UTM in its URL
        page.wait_for_selector("#add-to-cart")
        page.click("#add-to-cart")
        page.wait_for_function("window.clickstream.pending() === 0", timeout=WAIT_MS)
        session_id = page.evaluate("clickstream.sessionId()")
    lines = raw_lines(raw_bucket)
    # every copy, a leaving page's keepalive one included: the warehouse keeps the first
    assert {line["ingest"]["user_agent"] for line in lines} == {DESKTOP_CHROME}
    events = {line["event_id"]: line for line in lines}.values()
    assert {event["session_id"] for event in events} == {session_id}
    assert all(
        event["page"]["utm"] == {"source": "google", "medium": "cpc", "campaign": "spring-laptops"}
        and event["page"]["click_ids"] == {"gclid": "e2e-click"}
        for event in events
    )
    views = [event for event in events if event["event_name"] == "page_view"]
    pings = [event for event in events if event["event_name"] == "page_ping"]
    assert len({view["page"]["page_view_id"] for view in views}) == 2
    assert pings
    assert {ping["page"]["page_view_id"] for ping in pings} <= {
        view["page"]["page_view_id"] for view in views
    }
    assert all(ping["context"]["ping"]["engaged_seconds"] > 0 for ping in pings)
    assert all(event["context"]["browser"]["viewport_width"] > 0 for event in events)

    _run([sys.executable, "-m", "extract_load", "load"])
    run_dbt(
        "build", "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
        quiet=True,
    )  # fmt: skip
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "select channel, utm_source, utm_medium, utm_campaign, device_class, engaged_seconds"
            " from public.fct_sessions where session_id = %s",
            (session_id,),
        )
        session = cursor.fetchone()
        cursor.execute(
            "select sum(page_pings), sum(engaged_seconds) from public.fct_page_views"
            " where session_id = %s",
            (session_id,),
        )
        page_pings, engaged = cursor.fetchone()  # type: ignore[misc]
    conn.close()
    assert session is not None
    assert session[:5] == ("Paid Search", "google", "cpc", "spring-laptops", "desktop")
    assert session[5] > 0
    assert page_pings == len(pings)
    assert engaged == session[5]
