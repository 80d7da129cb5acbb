"""The dashboards in a real browser: Debian's headless Chromium driven by Playwright, against
the app served on a free port over the small known warehouse (tests/dashboard_data.py).
Screenshots go to test-results/dashboard/."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from clickstream.config import PROJECT_ROOT
from clickstream.warehouse import connect
from dashboard import screenshots
from devtools.browser import (
    MISSING_CHROMIUM,
    ServerDidNotStartError,
    chromium,
    chromium_path,
    wait_until_serving,
)
from tests import dashboard_data

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_path() is None, reason=MISSING_CHROMIUM),
]

SCREENSHOTS = PROJECT_ROOT / "test-results" / "dashboard"
EXPECT_TIMEOUT_MS = 20_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def known_warehouse(module_warehouse_db: str) -> str:
    with connect() as conn:
        dashboard_data.create_marts(conn)
        dashboard_data.fill_known_data(conn)
    conn.close()
    return module_warehouse_db


def _serve(environment: dict[str, str]) -> Iterator[str]:
    """Run `python -m dashboard` on a free port until the test module is done."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = (SCREENSHOTS / f"app-{port}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        try:
            wait_until_serving(url, process)
        except ServerDidNotStartError as error:
            raise RuntimeError(f"the dashboard did not start; see {log.name}") from error
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def dashboard_url(known_warehouse: str) -> Iterator[str]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield from _serve(dict(os.environ, PGDATABASE=known_warehouse))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def _kpi(page: Page, name: str) -> Locator:
    return page.locator(f".tab-pane.active #kpi-{name}")


def _set_dates(page: Page, start: str, end: str) -> None:
    """Type the dates into the shared date-range input, as a person would."""
    for index, value in enumerate((start, end)):
        field = page.locator("#dates input").nth(index)
        field.click()
        field.press("Control+A")
        field.type(value)
        field.press("Enter")
    page.keyboard.press("Escape")


def _expect_whole_time_axis(page: Page, chart: str, ticks: int) -> None:
    """Every time label of the chart's x axis is drawn, whole, inside the chart, and no two
    overlap."""
    expect(page.locator(f"{chart} .main-svg").first).to_be_visible()
    labels = page.locator(f"{chart} .xtick text")
    expect(labels).to_have_count(ticks)
    area = page.locator(chart).bounding_box()
    assert area is not None
    spans = []
    for index in range(ticks):
        box = labels.nth(index).bounding_box()
        assert box is not None
        assert box["width"] > 0
        assert area["x"] <= box["x"]
        assert box["x"] + box["width"] <= area["x"] + area["width"]
        assert area["y"] <= box["y"]
        assert box["y"] + box["height"] <= area["y"] + area["height"]
        spans.append((box["x"], box["x"] + box["width"]))
    for (_, right), (next_left, _) in itertools.pairwise(sorted(spans)):
        assert right <= next_left, f"{chart}: time labels overlap"


def test_every_page_shows_the_marts_figures_and_follows_the_date_range(
    dashboard_url: str, browser: Browser
) -> None:
    page = browser.new_page(viewport=screenshots.VIEWPORT)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(dashboard_url)

    # The date range defaults to the days that have data, without the next day that holds
    # only 2 late events (2026-11-04); the sidebar says so.
    expect(page.locator("#dates input").first).to_have_value("2026-11-01")
    expect(page.locator("#dates input").last).to_have_value("2026-11-03")
    expect(page.locator("#data-range")).to_contain_text(
        "Events from 2026-11-01 to 2026-11-04.", timeout=EXPECT_TIMEOUT_MS
    )
    expect(page.locator("#data-range")).to_contain_text("2026-11-04 (2 events)")

    screenshots.open_page(page, "Funnel")
    expect(_kpi(page, "sessions")).to_have_text("350", timeout=EXPECT_TIMEOUT_MS)
    expect(_kpi(page, "purchasing-sessions")).to_have_text("13")
    expect(page.locator(".tab-pane.active .value-box-title").nth(1)).to_have_text(
        "Sessions with a purchase"
    )
    expect(_kpi(page, "conversion")).to_have_text("3.7%")
    expect(_kpi(page, "purchase-rate")).to_have_text("50.0%")
    # The charts are drawn by plotly.js in the page, not just present as markup.
    expect(page.locator("#chart-funnel .main-svg").first).to_be_visible()
    expect(page.locator("#chart-conversion .main-svg").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "funnel.png"), full_page=True)

    screenshots.open_page(page, "Products")
    expect(_kpi(page, "views")).to_have_text("155", timeout=EXPECT_TIMEOUT_MS)
    # Purchase events and units, named apart from the Funnel's sessions with a purchase.
    expect(_kpi(page, "purchases")).to_have_text("15")
    expect(_kpi(page, "units")).to_have_text("17")
    titles = page.locator(".tab-pane.active .value-box-title")
    expect(titles.nth(3)).to_have_text("Purchase events")
    expect(titles.nth(4)).to_have_text("Units")
    expect(page.locator("#products-table thead")).to_contain_text("purchase events")
    # Revenue with its currency, and the purchase in another currency said, not summed.
    expect(_kpi(page, "revenue")).to_have_text("EUR 10.2k")
    expect(page.locator(".tab-pane.active .kpi").nth(5)).to_contain_text("EUR 10,200.50")
    expect(page.locator(".tab-pane.active #other-currency-note")).to_contain_text(
        "1 purchase event in another currency than EUR is not in the revenue"
    )
    expect(_kpi(page, "view-to-cart")).to_have_text("21.3%")  # 33 / 155
    expect(page.locator("#products-table tbody tr").first).to_contain_text("Laptop Pro 14 (p1)")
    page.select_option("#category", "accessories")
    expect(_kpi(page, "views")).to_have_text("65", timeout=EXPECT_TIMEOUT_MS)
    expect(_kpi(page, "revenue")).to_have_text("EUR 200.50")
    page.select_option("#rank_by", "revenue")
    expect(page.locator("#products-table tbody tr").first).to_contain_text(
        "Mechanical Keyboard (p3)", timeout=EXPECT_TIMEOUT_MS
    )
    expect(page.locator("#chart-top-products .main-svg").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "products.png"), full_page=True)

    screenshots.open_page(page, "Activity")
    expect(_kpi(page, "events")).to_have_text("49", timeout=EXPECT_TIMEOUT_MS)
    expect(_kpi(page, "peak-users")).to_have_text("9")
    for chart in ("hourly", "daily", "heatmap", "active"):
        expect(page.locator(f"#chart-{chart} .main-svg").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "activity.png"), full_page=True)

    # One day only: every page follows the shared filter, and the Activity page shows the
    # day hour by hour instead of a single bar, dot and heatmap row.
    _set_dates(page, "2026-11-02", "2026-11-02")
    expect(_kpi(page, "events")).to_have_text("23", timeout=EXPECT_TIMEOUT_MS)
    expect(_kpi(page, "days")).to_have_text("1")
    expect(page.locator(".tab-pane.active #one-day-note")).to_contain_text(
        "One day only (2026-11-02)"
    )
    expect(page.locator("#chart-hourly .main-svg").first).to_be_visible()
    for per_day_chart in ("daily", "heatmap", "active"):
        expect(page.locator(f"#chart-{per_day_chart}")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "activity-one-day.png"), full_page=True)
    screenshots.open_page(page, "Funnel")
    expect(_kpi(page, "sessions")).to_have_text("200", timeout=EXPECT_TIMEOUT_MS)
    expect(_kpi(page, "conversion")).to_have_text("4.0%")
    expect(page.locator(".tab-pane.active #trend-note")).to_contain_text("One day only")
    screenshots.open_page(page, "Products")
    expect(_kpi(page, "views")).to_have_text("25", timeout=EXPECT_TIMEOUT_MS)  # accessories

    # Dates without data say so, in one sentence.
    _set_dates(page, "2026-10-01", "2026-10-02")
    expect(page.locator(".tab-pane.active .empty-state")).to_contain_text(
        "No product events for these filters between 2026-10-01 and 2026-10-02",
        timeout=EXPECT_TIMEOUT_MS,
    )
    # All dates takes in the partial day too; the per-day figures leave it out and say so.
    page.get_by_role("button", name="All dates").click()
    expect(page.locator("#dates input").first).to_have_value("2026-11-01")
    expect(page.locator("#dates input").last).to_have_value("2026-11-04")
    expect(_kpi(page, "views")).to_have_text("65", timeout=EXPECT_TIMEOUT_MS)
    screenshots.open_page(page, "Activity")
    expect(_kpi(page, "events")).to_have_text("51", timeout=EXPECT_TIMEOUT_MS)
    expect(_kpi(page, "days")).to_have_text("3")
    expect(_kpi(page, "daily-sessions")).to_have_text("7")  # (8 + 10 + 2) / 3, not / 4
    expect(page.locator(".tab-pane.active #partial-days")).to_contain_text("2026-11-04 (2 events)")

    screenshots.open_page(page, "Data health")
    expect(_kpi(page, "lines-loaded")).to_have_text("57", timeout=EXPECT_TIMEOUT_MS)
    expect(_kpi(page, "valid")).to_have_text("51")
    expect(_kpi(page, "invalid")).to_have_text("2")
    expect(_kpi(page, "duplicates")).to_have_text("4")
    expect(_kpi(page, "rejected")).to_have_text("1")
    expect(_kpi(page, "latest-event")).to_have_text("2026-11-04 01:00")
    # The last run found no new object: it is the last load, and a row of the table.
    expect(page.locator("#freshness")).to_contain_text("Fresh: the last load was 30 min ago")
    loads = page.locator("#loads-table tbody tr")
    expect(loads).to_have_count(4)
    expect(loads.first).to_contain_text("0 (nothing new)")
    # Two cards, two titles.
    headers = page.locator(".tab-pane.active .card-header")
    expect(headers).to_have_text(["Lines per loader run", "Last 4 loader runs"])
    _expect_whole_time_axis(page, "#chart-loads", ticks=4)
    page.screenshot(path=str(SCREENSHOTS / "data-health.png"), full_page=True)

    # Offline: everything, plotly.js included, came from the app itself.
    foreign = [url for url in requests if not url.startswith(dashboard_url)]
    assert foreign == []
    assert any(url.endswith("/plotly/plotly.min.js") for url in requests)
    page.close()


def _expect_table_rows(page: Page, table_id: str, first_cells: list[str]) -> None:
    """The table's rows begin with these cells, in this order."""
    expect(page.locator(f".tab-pane.active #{table_id} tbody tr td:first-child")).to_have_text(
        first_cells, timeout=EXPECT_TIMEOUT_MS
    )


def test_acquisition_and_audience_show_the_marts_figures_and_follow_the_channel_filter(
    dashboard_url: str, browser: Browser
) -> None:
    page = browser.new_page(viewport=screenshots.VIEWPORT)
    page.goto(dashboard_url)

    screenshots.open_page(page, "Acquisition")
    expect(_kpi(page, "sessions")).to_have_text("350", timeout=EXPECT_TIMEOUT_MS)
    expect(_kpi(page, "conversion")).to_have_text("3.7%")  # 13 / 350
    expect(_kpi(page, "orders")).to_have_text("13")
    expect(_kpi(page, "revenue")).to_have_text("EUR 10.2k")  # the Products page's revenue
    expect(_kpi(page, "revenue-per-session")).to_have_text("EUR 29.14")
    expect(_kpi(page, "bounce-rate")).to_have_text("21.4%")  # 75 / 350
    _expect_table_rows(
        page, "channels-table", ["Organic Search", "Paid Search", "Email", "Social", "Direct"]
    )
    expect(page.locator("#channels-table tbody tr").nth(1).locator("td")).to_have_text(
        [
            "Paid Search",
            "90",
            "25.7%",
            "7.8%",
            "7",
            "EUR 5,140.50",
            "EUR 57.12",
            "7.8%",
            "1 min 13 s",
        ]
    )
    _expect_table_rows(
        page,
        "sources-table",
        ["(not set) / (not set)", "google / cpc", "facebook / social", "newsletter / email"],
    )
    _expect_table_rows(page, "campaigns-table", ["(not set)", "black-friday", "november-news"])
    _expect_table_rows(
        page,
        "landing-pages-table",
        ["/", "/product/laptop-pro-14", "/category/accessories"],
    )
    _expect_table_rows(page, "devices-table", ["mobile", "desktop", "tablet"])
    _expect_table_rows(page, "browsers-table", ["Chrome", "Safari", "Firefox"])
    for chart in ("channels", "revenue", "channel-days", "devices", "browsers"):
        expect(page.locator(f"#chart-{chart} .main-svg").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "acquisition.png"), full_page=True)

    screenshots.open_page(page, "Audience")
    expect(_kpi(page, "new-users")).to_have_text("8", timeout=EXPECT_TIMEOUT_MS)
    expect(_kpi(page, "returning-users")).to_have_text("3")  # (3 + 6 + 1) / 3 full days
    expect(_kpi(page, "returning-sessions")).to_have_text("63.6%")  # 14 of 22
    # The data ends on 2026-11-04: no cohort has had a whole week 1 yet.
    expect(_kpi(page, "week-1-retention")).to_have_text("\u2013")
    expect(_kpi(page, "aov")).to_have_text("EUR 784.65")  # 10,200.50 / 13 orders
    rows = page.locator("#retention-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first.locator("td")).to_have_text(["2026-10-26", "4", "100.0%", "75.0%*"])
    expect(rows.last.locator("td")).to_have_text(["2026-11-02", "4", "100.0%*", ""])
    for chart in ("new-returning", "order-values", "retention"):
        expect(page.locator(f"#chart-{chart} .main-svg").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "audience.png"), full_page=True)

    # One channel: Audience's orders follow it, its users and cohorts do not (and it says so).
    page.select_option("#channel", "Paid Search")
    expect(_kpi(page, "orders")).to_have_text("7", timeout=EXPECT_TIMEOUT_MS)
    expect(_kpi(page, "aov")).to_have_text("EUR 734.36")  # 5,140.50 / 7
    expect(_kpi(page, "new-users")).to_have_text("8")
    expect(page.locator(".tab-pane.active #traffic-filter-note")).to_contain_text(
        "only Paid Search sessions"
    )
    screenshots.open_page(page, "Acquisition")
    expect(_kpi(page, "sessions")).to_have_text("90", timeout=EXPECT_TIMEOUT_MS)
    _expect_table_rows(page, "channels-table", ["Paid Search"])
    _expect_table_rows(page, "devices-table", ["mobile", "desktop"])
    screenshots.open_page(page, "Funnel")
    expect(_kpi(page, "sessions")).to_have_text("90", timeout=EXPECT_TIMEOUT_MS)
    expect(_kpi(page, "conversion")).to_have_text("7.8%")
    expect(page.locator(".tab-pane.active #traffic-filter-note")).to_contain_text(
        "Only Paid Search sessions"
    )
    # And a device on top: Paid Search on mobile.
    page.select_option("#device", "mobile")
    expect(_kpi(page, "sessions")).to_have_text("60", timeout=EXPECT_TIMEOUT_MS)
    expect(_kpi(page, "purchasing-sessions")).to_have_text("4")
    # Products has no channel: it counts every session and says so.
    screenshots.open_page(page, "Products")
    expect(page.locator(".tab-pane.active #traffic-filter-ignored")).to_contain_text(
        "the channel and device filter (Paid Search sessions on mobile) does not apply",
        timeout=EXPECT_TIMEOUT_MS,
    )
    expect(_kpi(page, "views")).to_have_text("155")
    # Every channel again.
    page.select_option("#channel", "")
    page.select_option("#device", "")
    expect(page.locator(".tab-pane.active #traffic-filter-ignored")).to_have_count(
        0, timeout=EXPECT_TIMEOUT_MS
    )
    screenshots.open_page(page, "Funnel")
    expect(_kpi(page, "sessions")).to_have_text("350", timeout=EXPECT_TIMEOUT_MS)
    page.close()


def test_an_unreachable_warehouse_shows_one_friendly_sentence(
    services: dict[str, str], browser: Browser
) -> None:
    closed_port = str(_free_port())
    environment = dict(os.environ, PGHOST="127.0.0.1", PGPORT=closed_port)
    for url in _serve(environment):
        page = browser.new_page()
        page.goto(url)
        for page_name in screenshots.PAGES:
            page.get_by_role("tab", name=page_name).click()
            message = page.locator(".tab-pane.active .empty-state")
            expect(message).to_have_text(
                "The warehouse cannot be reached right now, so there is nothing to show; "
                "check that it is running (make services-status) and reload the page.",
                timeout=EXPECT_TIMEOUT_MS,
            )
        body = page.locator("body").inner_text()
        assert "Traceback" not in body
        assert closed_port not in body
        page.screenshot(path=str(SCREENSHOTS / "unreachable.png"))
        page.close()
