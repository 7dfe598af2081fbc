"""A real headless Chromium for page tests (Debian packages chromium and chromium-driver, driven
by Selenium). Without them the test is skipped here, but fails under CI, which installs them."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager

import pytest


@contextmanager
def chromium(width: int = 1280, height: int = 1800):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver")
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not driver_path or not browser_path:
        message = "needs Debian packages chromium and chromium-driver (.ci/run installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    # an explicit driver path keeps Selenium Manager from trying to download one
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
