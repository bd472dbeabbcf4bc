"""Debian's chromium driven by Playwright, for the tests marked `browser`: found, launched and closed in one
place. Without chromium such a test is skipped -- or fails, where EMODRAW_REQUIRE_BROWSER says a browser must
be there (CI installs it)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# No sandbox (tests run as root in containers), no GPU, and nothing that reaches the network on its own.
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skip the calling test when chromium is missing, or fail it when EMODRAW_REQUIRE_BROWSER is set."""
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("EMODRAW_REQUIRE_BROWSER"):
        pytest.fail("EMODRAW_REQUIRE_BROWSER is set but Debian's chromium is not installed")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")


@contextmanager
def chromium_page() -> Iterator:
    """A new Playwright page in a headless chromium, closed afterwards (skips or fails as require_chromium)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()
