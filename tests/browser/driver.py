"""Headless Chromium (Debian's chromium and chromedriver) driven by selenium, for the page tests.

The flags keep the browser off the network (this machine's network is closed, and the pages
must work offline anyway): no background networking, component updates or sync.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = os.environ.get("AGENT_ECOLOGY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("AGENT_ECOLOGY_CHROMEDRIVER", "/usr/bin/chromedriver")


def need_browser() -> None:
    """Skip without Debian's chromium and chromedriver, unless the browser stage requires
    them (AGENT_ECOLOGY_BROWSER=1, as `make test-browser` sets): then that is a failure."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if not missing:
        return
    message = (
        f"no {' or '.join(missing)}: install Debian's chromium and chromium-driver"
        " (make test-browser does)"
    )
    if os.environ.get("AGENT_ECOLOGY_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium(profile: Path, width: int = 1200, height: int = 900) -> Iterator[WebDriver]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
