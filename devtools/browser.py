"""Debian's headless Chromium, driven by Playwright, for the browser tests and the README's
screenshots; and a wait for a page's server to answer. Never `playwright install`: the
browser is Debian's package (`make browser` installs it)."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from clickstream.errors import TerminalError, TransientError

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = "/usr/bin/chromium"
# Headless, and nothing reaching for the internet (this machine has none).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
MISSING_CHROMIUM = "Debian's chromium is missing (apt-get install chromium chromium-driver)"


class ChromiumMissingError(TerminalError):
    """Debian's chromium is not installed."""


class ServerDidNotStartError(TransientError):
    """A server started for a page never answered."""


def chromium_path() -> str | None:
    """Debian's chromium, when installed."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium")


@contextmanager
def chromium(user_agent: str | None = None) -> Iterator[Browser]:
    """A headless Chromium for the duration of the block. `user_agent` replaces the browser's
    own (HeadlessChrome) in every request: set on the command line, not per context, because
    Chromium sends a leaving page's keepalive requests with its own agent whatever the
    context says."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise ChromiumMissingError(MISSING_CHROMIUM)
    with sync_playwright() as playwright:
        args = CHROMIUM_ARGS + ([f"--user-agent={user_agent}"] if user_agent else [])
        browser = playwright.chromium.launch(executable_path=executable, args=args)
        try:
            yield browser
        finally:
            browser.close()


def wait_until_serving(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Return once `url` answers; ServerDidNotStartError if `process` exits or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310 (our own loopback URL)
                return
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ServerDidNotStartError(f"nothing answered at {url}") from None
            time.sleep(0.3)
