"""Screenshots of every page, for the README and the browser test.

    python -m dashboard.screenshots --url http://127.0.0.1:3838/ [--out docs/screenshots]
    python -m dashboard.screenshots --build [--out docs/screenshots]

drives Debian's Chromium (never a downloaded browser) with Playwright and writes
<out>/<page>.png (funnel, acquisition, audience, products, activity, data-health). With
--url it photographs a running dashboard; with --build (`make dashboard-screenshots`) it
first builds four realistic weeks of traffic through the real pipeline (generator -> raw
objects -> loader -> dbt build) in a database and bucket of its own, then serves the
dashboard on it on a free port.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, ViewportSize

from clickstream.config import PROJECT_ROOT
from clickstream.storage import s3_client
from clickstream.warehouse import create_database
from devtools.browser import chromium, wait_until_serving
from devtools.buckets import create_bucket_if_missing, delete_objects
from devtools.dbt_cli import run_dbt

PAGES = ("Funnel", "Acquisition", "Audience", "Products", "Activity", "Data health")
VIEWPORT: ViewportSize = {"width": 1440, "height": 1000}
PAGE_LOAD_TIMEOUT_MS = 30_000
SCREENSHOT_DATABASE = "dashboard_screenshots"
SCREENSHOT_BUCKET = "dashboard-screenshots"
# Four weeks: the Audience page's cohorts have weeks after their first to show.
SCREENSHOT_DAYS = 28
SCREENSHOT_EVENTS_PER_DAY = 5_000


def slug(page_name: str) -> str:
    return page_name.lower().replace(" ", "-")


def open_page(page: Page, page_name: str) -> None:
    """Show one of the dashboard's pages and wait until its panel has drawn."""
    page.get_by_role("tab", name=page_name).click()
    panel = page.locator(".tab-pane.active .shiny-html-output").last
    panel.locator(".kpi, .empty-state").first.wait_for(timeout=PAGE_LOAD_TIMEOUT_MS)
    # Shiny marks outputs it is recomputing; wait for the visible ones to settle, then for
    # plotly to draw (hidden pages' outputs stay suspended, and marked, until shown).
    page.wait_for_function(
        "() => !document.querySelector('.tab-pane.active .recalculating')",
        timeout=PAGE_LOAD_TIMEOUT_MS,
    )
    page.wait_for_function(
        """() => [...document.querySelectorAll('.tab-pane.active .plotly-graph-div')]
                 .every(div => div.querySelector('.main-svg'))""",
        timeout=PAGE_LOAD_TIMEOUT_MS,
    )


def capture(page: Page, out_dir: Path) -> list[Path]:
    """Screenshot every page of the dashboard already open in `page`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for page_name in PAGES:
        open_page(page, page_name)
        path = out_dir / f"{slug(page_name)}.png"
        page.screenshot(path=str(path), full_page=True)
        written.append(path)
    return written


def photograph(url: str, out_dir: Path) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url, timeout=PAGE_LOAD_TIMEOUT_MS)
        for path in capture(page, out_dir):
            print(f"wrote {path}")


# ---------------------------------------------------------------- --build


def _run(argv: list[str], environment: dict[str, str]) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, cwd=PROJECT_ROOT, env=environment, check=True)


def _recreate_bucket(name: str) -> None:
    client = s3_client()
    create_bucket_if_missing(client, name)
    delete_objects(client, name)


def build_screenshot_warehouse(environment: dict[str, str]) -> None:
    """Four weeks of the generated shop, loaded a day at a time (so Data health shows several
    loads), then `dbt build`: what the pages look like after weeks of hourly runs."""
    create_database(environment["PGDATABASE"], replace=True)
    _recreate_bucket(environment["RAW_BUCKET"])
    python = sys.executable
    first_day = datetime.now(UTC).date() - timedelta(days=SCREENSHOT_DAYS)
    _run(
        [
            python, "-m", "devtools.traffic",
            "--events", str(SCREENSHOT_EVENTS_PER_DAY * SCREENSHOT_DAYS),
            "--days", str(SCREENSHOT_DAYS), "--start", first_day.isoformat(), "--seed", "42",
        ],
        environment,
    )  # fmt: skip
    for day in range(SCREENSHOT_DAYS + 1):  # the last: requests delivered late
        until = first_day + timedelta(days=day)
        _run(
            [python, "-m", "extract_load", "load", "--since", first_day.isoformat(), "--until",
             f"{until.isoformat()}T23"],
            environment,
        )  # fmt: skip
    run_dbt("build", env=environment)


@contextmanager
def serve(environment: dict[str, str]) -> Iterator[str]:
    """`python -m dashboard` on a free loopback port; yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--port", str(port)], cwd=PROJECT_ROOT, env=environment
    )
    try:
        wait_until_serving(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dashboard.screenshots", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="a running dashboard, e.g. http://127.0.0.1:3838/")
    source.add_argument(
        "--build", action="store_true", help=f"build and serve the {SCREENSHOT_DATABASE} database"
    )
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    if args.url:
        photograph(args.url, args.out)
        return
    environment = dict(
        os.environ,
        PGDATABASE=SCREENSHOT_DATABASE,
        RAW_BUCKET=SCREENSHOT_BUCKET,
        RAW_PREFIX="events/",
    )
    build_screenshot_warehouse(environment)
    with serve(environment) as url:
        photograph(url, args.out)


if __name__ == "__main__":
    main()
