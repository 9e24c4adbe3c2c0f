"""End-to-end in Debian's Chromium against a real `streamlit run`: sign-in, deep links, filters, chart data,
dashboards, permissions. Screenshots of every page go to test-artifacts/app/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from app.app_data import AppData, build, password
from app.browser import ARTIFACTS, StreamlitServer, chart_layers, mark_position, shot, sign_in, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHART = "/chart?datasource=shop-recs&metric=rows.count&label.region=JP&start=2026-01-31&end=2026-03-31"


@pytest.fixture(scope="module")
def browser_data(tmp_path_factory: pytest.TempPathFactory) -> AppData:
    """Its own installation: these tests create dashboards."""
    return build(tmp_path_factory.mktemp("browser_home"))


@pytest.fixture(scope="module")
def server(browser_data: AppData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    env = {"LUPUS_HOME": str(browser_data.home), "LUPUS_UI_TODAY": "2026-04-01"}
    srv = StreamlitServer(env, cwd=tmp_path_factory.mktemp("cwd"), log=ARTIFACTS / "streamlit-browser.log").start()
    yield srv
    srv.stop()


def day(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def test_deep_link_after_sign_in_shows_the_filtered_series_with_band_and_anomalies(server, page) -> None:
    page.goto(server.url + CHART)
    sign_in(page, "alice", password("alice"))
    layers = chart_layers(page, want="anomaly")
    shot(page, "chart-detail")
    assert {row["series"] for row in layers["series"]} == {"region=JP"}
    assert len(layers["series"]) == 60
    band = layers["band"]
    expected = {r["ts"]: r["expected"] for r in layers["expected"]}
    assert len(band) == 60 and len(expected) == 60
    assert all(r["lower"] < expected[r["ts"]] < r["upper"] for r in band)
    assert [(r["series"], day(r["ts"])) for r in layers["anomaly"]] == [("region=JP", "2026-02-15")]
    assert layers["anomaly"][0]["detector"] == "window"
    assert "label.region=JP" in page.url and "start=2026-01-31" in page.url


def test_filtering_by_a_label_redraws_only_that_series_and_updates_the_url(server, page) -> None:
    page.goto(server.url + "/chart?datasource=shop-recs&metric=rows.count&start=2026-01-31&end=2026-03-31")
    sign_in(page, "alice", password("alice"))
    assert {r["series"] for r in chart_layers(page)["series"]} == {"region=DE", "region=JP", "region=US"}
    page.locator('[data-testid="stMultiSelect"]').filter(has_text="region").locator("input").click()
    page.get_by_role("option", name="DE", exact=True).click()
    page.keyboard.press("Escape")
    wait_idle(page)
    page.wait_for_url("**label.region=DE**")
    layers = chart_layers(page, want="anomaly", series={"region=DE"})
    assert [day(r["ts"]) for r in layers["anomaly"]] == ["2026-03-30"]
    shot(page, "chart-filtered")


def test_dashboard_created_from_a_chart_is_there_after_reload(server, page) -> None:
    page.goto(server.url + CHART)
    sign_in(page, "alice", password("alice"))
    chart_layers(page)
    page.get_by_text("Add to dashboard").click()
    page.get_by_label("New dashboard name").fill("Japan watch")
    page.get_by_label("Chart title (optional)").fill("JP rows")
    page.get_by_role("button", name="Add chart").click()
    page.get_by_text("Added to Japan watch").wait_for()
    page.reload()
    page.get_by_text("Signed in as alice").wait_for()  # the sign-in outlives the reload
    page.get_by_role("link", name="Dashboards").click()  # in-app navigation keeps the session
    page.get_by_role("heading", name="Japan watch").wait_for()
    layers = chart_layers(page, want="anomaly")
    assert {r["series"] for r in layers["series"]} == {"region=JP"}
    page.get_by_text("JP rows").wait_for()
    shot(page, "dashboard")


def test_other_team_user_neither_lists_nor_opens_the_datasource(server, page) -> None:
    page.goto(server.url + "/")
    sign_in(page, "bob", password("bob"))
    page.get_by_role("heading", name="Datasources").wait_for()
    wait_idle(page)
    page.get_by_role("link", name="Explore other-ds").wait_for()
    links = [text.strip() for text in page.get_by_role("link").all_inner_texts()]
    assert [text for text in links if text.startswith("Explore ")] == ["Explore other-ds"]
    assert "shop-recs" not in page.inner_text("body")
    shot(page, "home-other-team")
    page.goto(server.url + CHART)
    page.get_by_text("Signed in as bob").wait_for()  # still signed in: the cookie keeps the session
    page.get_by_text("does not exist or you do not have access").wait_for()
    assert page.locator(".vega-embed").count() == 0
    shot(page, "chart-refused")


def test_explorer_and_alerts_pages_render_for_the_owner(server, page) -> None:
    page.goto(server.url + "/explorer?datasource=shop-recs")
    sign_in(page, "alice", password("alice"))
    chart_layers(page, index=1)
    assert page.locator(".vega-embed").count() == 2
    shot(page, "explorer")
    page.get_by_role("link", name="Open score.mean").click()
    page.wait_for_url("**/chart?datasource=shop-recs&metric=score.mean**")
    chart_layers(page)
    page.goto(server.url + "/alerts")
    page.get_by_text("Signed in as alice").wait_for()
    page.get_by_role("heading", name="Alerts").wait_for()
    wait_idle(page)
    shot(page, "alerts")
    page.goto(server.url + "/")
    page.get_by_text("Signed in as alice").wait_for()
    page.get_by_role("heading", name="Datasources").wait_for()
    wait_idle(page)
    shot(page, "home")


def test_clicking_an_anomaly_mark_narrows_the_anomaly_table(server, page) -> None:
    page.goto(server.url + "/chart?datasource=shop-recs&metric=rows.count&start=2026-01-31&end=2026-03-31")
    sign_in(page, "alice", password("alice"))
    chart_layers(page, want="anomaly")
    page.get_by_text("3 of 3 anomalies").wait_for()
    position = mark_position(page, "anomaly", "region=US")
    page.mouse.click(position["x"], position["y"])
    page.get_by_text("1 of 3 anomalies (narrowed by your selection)").wait_for()
    shot(page, "chart-anomaly-selected")


def test_an_alert_row_opens_its_series_chart(server, page, browser_data) -> None:
    from lupus_dagster.resources.alert_message import Alert, chart_link
    from lupus_metrics.schema import series_id
    from lupus_store.incidents import Candidate
    from lupus_store.incidents.records import record as record_candidates

    day = browser_data.end
    record_candidates(browser_data.db, [
        Candidate("shop", "shop-recs", series_id("shop-recs", "rows.count", {"region": region}), day, "anomaly",
                  "rows.count", 5.0, Alert(kind="anomaly", metric="rows.count", labels={"region": region},
                  value=150.0, expected=100.0, link=chart_link("shop-recs", "rows.count", {"region": region}, day)))
        for region in ("JP", "US")
    ])  # fmt: skip
    page.goto(server.url + "/alerts")
    sign_in(page, "alice", password("alice"))
    page.get_by_text("shop: rows.count for region=").first.wait_for()
    page.locator("summary").filter(has_text="shop: rows.count").first.click()  # open the incident's series
    row = page.locator("table.members tr").filter(has_text="region=US")
    row.first.wait_for()
    assert row.count() == 1 and "+50%" in row.inner_text()
    shot(page, "alerts-rows")
    row.get_by_role("link", name="Open chart").click()
    page.wait_for_url("**/chart?datasource=shop-recs&metric=rows.count&label.region=US**")
    layers = chart_layers(page, series={"region=US"})
    assert {r["series"] for r in layers["series"]} == {"region=US"}
    page.get_by_text("Signed in as alice").wait_for()  # the link's page load kept the sign-in
