"""Fixtures of the app tests: one prepared installation (store + metadata) per test session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from app.app_data import AppData, build
from app.browser import launch


@pytest.fixture(scope="session")
def app_data(tmp_path_factory: pytest.TempPathFactory) -> AppData:
    """Store and metadata under a temporary LUPUS_HOME (read-only for tests, except dashboards/alerts)."""
    return build(tmp_path_factory.mktemp("lupus_home"))


@pytest.fixture
def app_env(app_data: AppData, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppData]:
    """Point LUPUS_HOME (store and metadata) at the prepared installation for in-process AppTest runs."""
    monkeypatch.setenv("LUPUS_HOME", str(app_data.home))
    monkeypatch.delenv("LUPUS_STORE", raising=False)
    monkeypatch.delenv("LUPUS_METADATA_URL", raising=False)
    monkeypatch.setenv("LUPUS_UI_TODAY", (app_data.end + timedelta(days=1)).isoformat())
    yield app_data


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium for one test module (Playwright's event loop is gone before other suites run)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A fresh browser context (no cookies, UTC) and page per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, timezone_id="UTC")
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()
