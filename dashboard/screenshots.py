"""Screenshots of every page, for the README and the browser test.

    python -m dashboard.screenshots [--url http://127.0.0.1:3838/] [--out docs/screenshots]

drives Debian's Chromium (never a downloaded browser) with Playwright against a running
dashboard (`make dashboard`) and writes <out>/<page>.png (funnel, products, activity,
data-health). `make dashboard-screenshots` serves the demo warehouse and runs it.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from clickstream.config import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
PAGES = ("Funnel", "Products", "Activity", "Data health")
VIEWPORT: ViewportSize = {"width": 1440, "height": 1000}
PAGE_LOAD_TIMEOUT_MS = 30_000


def chromium_path() -> str | None:
    """Debian's chromium, when installed."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium")


@contextmanager
def chromium() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        raise SystemExit("chromium is missing: apt-get install chromium chromium-driver")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dashboard.screenshots", description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:3838/")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(args.url, timeout=PAGE_LOAD_TIMEOUT_MS)
        for path in capture(page, args.out):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
