"""Dashboards in Debian's Chromium: a grid of two or three charts per row, one time range for every chart, and
links that open the same dashboard, range and grid."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pandas as pd
import pytest

from app.app_data import AppData, build, password
from app.browser import ARTIFACTS, StreamlitServer, chart_layers, shot, sign_in, wait_idle
from streamlit_app import dashboards
from streamlit_app.access import load_user
from streamlit_app.deep_links import ChartView

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHARTS = [("rows.count", {"region": ("JP",)}), ("rows.count", {"region": ("US",)}), ("rows.count", {}),
          ("score.mean", {"region": ("DE",)})]  # fmt: skip


@pytest.fixture(scope="module")
def grid_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[AppData, int]:
    data = build(tmp_path_factory.mktemp("grid_home"))
    alice = load_user(data.db, data.users["alice"])
    board = dashboards.create_dashboard(data.db, alice, "Shop health")
    for metric, labels in CHARTS:
        dashboards.add_chart(data.db, alice, board, ChartView("shop-recs", metric, labels), time_range="60d")
    return data, board


@pytest.fixture(scope="module")
def server(grid_data, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    env = {"LUPUS_HOME": str(grid_data[0].home), "LUPUS_UI_TODAY": "2026-04-01"}
    srv = StreamlitServer(env, cwd=tmp_path_factory.mktemp("cwd"), log=ARTIFACTS / "streamlit-grid.log").start()
    yield srv
    srv.stop()


def chart_boxes(page) -> list[dict]:
    boxes = [el.bounding_box() for el in page.locator(".vega-embed").all()]
    return sorted(boxes, key=lambda box: (round(box["y"]), box["x"]))


def days_drawn(page, index: int) -> set[str]:
    return {
        pd.Timestamp(r["ts"], unit="ms", tz="UTC").date().isoformat() for r in chart_layers(page, index=index)["series"]
    }


def every_chart(page, count: int = len(CHARTS)) -> None:
    for index in range(count):
        chart_layers(page, index=index)
    wait_idle(page)


def test_two_charts_per_row_by_default_and_three_on_request(server, page, grid_data) -> None:
    _, board = grid_data
    page.goto(f"{server.url}/dashboards?id={board}")
    sign_in(page, "alice", password("alice"))
    every_chart(page)
    boxes = chart_boxes(page)
    rows = [round(box["y"]) for box in boxes]
    assert rows[0] == rows[1] < rows[2] == rows[3] and boxes[0]["x"] < boxes[1]["x"]
    shot(page, "dashboard-grid-2")
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Per row").click()
    page.get_by_role("option", name="3").click()
    page.wait_for_url("**cols=3**")
    wait_idle(page)
    every_chart(page)
    rows = [round(box["y"]) for box in chart_boxes(page)]
    assert rows[0] == rows[1] == rows[2] < rows[3]


def test_one_time_range_for_every_chart_in_the_url(server, page, grid_data) -> None:
    _, board = grid_data
    page.goto(f"{server.url}/dashboards?id={board}")
    sign_in(page, "alice", password("alice"))
    every_chart(page)
    assert len(days_drawn(page, 0)) == 60  # each chart's saved range: the last 60 days
    page.locator('[data-testid="stButtonGroup"]').get_by_text("7 days", exact=True).click()
    page.wait_for_url("**start=2026-03-25**")
    assert "end=2026-03-31" in page.url
    week = {(date(2026, 3, 25) + timedelta(days=i)).isoformat() for i in range(7)}
    for index in range(len(CHARTS)):
        deadline = 50
        while days_drawn(page, index) != week and deadline:
            page.wait_for_timeout(200)
            deadline -= 1
        assert days_drawn(page, index) == week, index
    shot(page, "dashboard-week")


def test_a_dashboard_link_opens_the_same_range_and_grid(server, browser, grid_data) -> None:
    _, board = grid_data
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, timezone_id="UTC")
    page = context.new_page()
    page.goto(f"{server.url}/dashboards?id={board}&start=2026-03-01&end=2026-03-15&cols=3")
    sign_in(page, "alice", password("alice"))
    every_chart(page)
    fortnight = {(date(2026, 3, 1) + timedelta(days=i)).isoformat() for i in range(15)}
    assert all(days_drawn(page, index) == fortnight for index in range(len(CHARTS)))
    rows = [round(box["y"]) for box in chart_boxes(page)]
    assert rows[0] == rows[1] == rows[2] < rows[3]
    links = page.get_by_role("link", name="Open chart")
    assert links.count() == len(CHARTS)
    assert all("start=2026-03-01" in link.get_attribute("href") for link in links.all())
    context.close()
