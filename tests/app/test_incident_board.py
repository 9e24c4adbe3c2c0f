"""The app a PM opens from an alert, on the demo's data in Debian's Chromium: the incident board on Home, the
Alerts page's acknowledge and silence (read back from the incident store), the chart's annotations (a failed
check with its rule and value, a model release), the root-cause sentence and the "around this incident" range.

The data is what `lupus demo --no-serve` builds (three synthetic products backfilled through Dagster with checks,
detection and the alert sensors) into a temporary LUPUS_HOME: minutes, once for the module. For quick reruns while
working on the app, LUPUS_TEST_DEMO_HOME names a home built by the same command (``--days 90 --today 2026-04-01``)
to copy instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from app.browser import ARTIFACTS, StreamlitServer, chart_layers, shot, sign_in, wait_idle
from lupus_dagster.demo.generate import DemoCalendar
from lupus_store.incidents import IncidentStore
from lupus_store.metadata import MetadataDB

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(1800)]

TODAY, DAYS = date(2026, 4, 1), 90
CALENDAR = DemoCalendar.ending(TODAY - timedelta(days=1), DAYS)
USER, PASSWORD = "demo", "demo"  # lupus_cli.main.DEMO_USER / DEMO_PASSWORD


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo-home")
    built = os.environ.get("LUPUS_TEST_DEMO_HOME")  # a home built by the same command, copied: for quick reruns
    if built:
        shutil.copytree(built, home, dirs_exist_ok=True)
        return home
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUPUS_", "DAGSTER_"))}
    env["LUPUS_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-c", "from lupus_cli.main import app; app()", "demo", "--no-serve", "--days", str(DAYS),
         "--today", TODAY.isoformat()],
        env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return home


@pytest.fixture(scope="module")
def incidents(demo_home: Path) -> IncidentStore:
    return IncidentStore(MetadataDB(f"sqlite:///{demo_home / 'metadata.db'}"))


@pytest.fixture(scope="module")
def server(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    env = {"LUPUS_HOME": str(demo_home), "LUPUS_UI_TODAY": TODAY.isoformat()}
    srv = StreamlitServer(env, cwd=tmp_path_factory.mktemp("cwd"), log=ARTIFACTS / "streamlit-incidents.log").start()
    yield srv
    srv.stop()


def open_page(server: StreamlitServer, page, path: str) -> None:
    page.goto(server.url + path)
    sign_in(page, USER, PASSWORD)
    wait_idle(page)


def table_rows(page, css: str) -> list[dict[str, str]]:
    """The rows of the page's HTML table ``table.<css>`` as {header: cell text}."""
    return page.evaluate(
        """(css) => {
          const table = document.querySelector('table.' + css);
          if (!table) return [];
          const heads = [...table.querySelectorAll('thead th')].map(th => th.innerText.trim());
          return [...table.querySelectorAll('tbody tr')].map(tr =>
            Object.fromEntries([...tr.querySelectorAll('td')].map((td, i) => [heads[i], td.innerText.trim()])));
        }""",
        css,
    )


def test_the_board_shows_the_demos_three_incidents_with_their_headlines(server, page, incidents) -> None:
    open_page(server, page, "/")
    page.locator("table.board").wait_for()
    rows = table_rows(page, "board")
    shot(page, "incident-board")
    stored = {f"#{i.id}": i for i in incidents.incidents()}
    assert len(rows) == len(stored) == 3
    by_product = {stored[row["incident"]].product: row for row in rows}
    assert set(by_product) == {"recommend", "attribute_classifier", "demand_forecaster"}
    for row in rows:  # what the chat message said, word for word
        assert row["headline"] == stored[row["incident"]].headline
    recommend = by_product["recommend"]
    assert recommend["headline"].startswith("recommend: ranking.") and "for region=JP" in recommend["headline"]
    assert "region=JP explains" in recommend["headline"]
    assert recommend["since"].startswith(CALENDAR.recommend_incident.isoformat())
    assert recommend["top slices"].split(": ")[1].startswith("region=JP")
    assert recommend["change"].startswith("-") and recommend["team"] == "recsys"
    churn = by_product["attribute_classifier"]
    assert churn["headline"].startswith("attribute_classifier: churn.rate ")
    assert churn["since"].startswith(CALENDAR.classifier_release.isoformat()) and churn["change"].startswith("+")
    check = by_product["demand_forecaster"]
    assert check["headline"].startswith("demand_forecaster: check ge_validation failed (rule min_rows: rows.count = ")
    assert check["since"].startswith(CALENDAR.forecaster_incident.isoformat()) and check["team"] == "supply"
    assert {row["status"] for row in rows} == {"resolved"}  # each came back inside its band within the 90 days
    health = {row["datasource"]: row["health"] for row in table_rows(page, "datasources")}
    assert health == {"recommend": "fine", "attribute-classifier": "fine", "demand-forecaster": "fine"}


def test_a_failed_check_is_annotated_on_its_chart_with_rule_and_value(server, page, incidents) -> None:
    open_page(server, page, "/")
    row = page.locator("table.board tr").filter(has_text="demand_forecaster: check ge_validation failed")
    row.get_by_role("link", name="Open chart").click()
    page.wait_for_url("**/chart?datasource=demand-forecaster&metric=rows.count&incident=*")
    layers = chart_layers(page, want="annotation")
    wait_idle(page)
    shot(page, "chart-failed-check")
    [event] = [a for a in layers["annotation"] if a["kind"] == "check"]
    day = CALENDAR.forecaster_incident
    assert event["ts"] == datetime_ms(day) and event["label"] == "check failed"
    assert "rule min_rows: rows.count = 1000 is below the minimum 1500" in event["text"]
    assert "price.null_rate" not in event["text"]  # the other failed rule concerns another chart
    [listed] = table_rows(page, "events")
    assert listed["day"] == day.isoformat() and "rows.count = 1000 is below the minimum 1500" in listed["what"]
    # The link had no range: the chart opened "around this incident", two weeks before to a week after.
    page.wait_for_url(f"**start={day - timedelta(days=14)}&end={day + timedelta(days=7)}&incident=*")


def test_the_aggregates_chart_says_which_slice_explains_the_drop(server, page, incidents) -> None:
    [incident] = [i for i in incidents.incidents() if i.product == "recommend"]
    cause = next(c for c in incident.root_cause if c["metric"] == "ranking.ndcg")
    share = round(cause["slices"][0]["share"] * 100)
    open_page(server, page, f"/chart?datasource=recommend&metric=ranking.ndcg&label.k=10&incident={incident.id}")
    chart_layers(page, want="annotation")
    sentence = page.get_by_text(f"region=JP explains {share} % of the ranking.ndcg drop (k=10)")
    sentence.wait_for()
    assert share >= 80
    shot(page, "chart-root-cause")
    # Another preset and back: "around this incident" stays offered and restores the range.
    presets = page.locator("[data-testid=stButtonGroup]")
    presets.get_by_text("1 year", exact=True).click()
    page.wait_for_url("**start=2025-04-01&end=2026-03-31**")
    presets.get_by_text("around this incident", exact=True).click()
    day = incident.start_day
    page.wait_for_url(f"**start={day - timedelta(days=14)}&end={day + timedelta(days=7)}&incident={incident.id}")


def test_model_releases_seen_by_churn_or_pushed_as_markers_are_marked_on_the_chart(server, page, incidents) -> None:
    from lupus_store.incidents.markers import add_marker

    pushed = datetime_ms(date(2026, 3, 20))
    add_marker(incidents.db, datasource="attribute-classifier", label="classifier v2.1", author="deploy-bot",
               ts=datetime_utc(date(2026, 3, 20), hour=9))  # fmt: skip
    open_page(server, page, "/chart?datasource=attribute-classifier&metric=churn.rate&start=2026-02-20&end=2026-03-31")
    layers = chart_layers(page, want="annotation")
    releases = sorted((a["ts"], a["label"]) for a in layers["annotation"] if a["kind"] == "release")
    assert releases == [(datetime_ms(CALENDAR.classifier_release), "release"), (pushed, "classifier v2.1")]
    assert {a["kind"] for a in layers["annotation"]} == {"release", "incident"}  # the churn incident starts then too
    events = table_rows(page, "events")
    assert any("classifier v2.1 (by deploy-bot, 09:00 UTC)" in e["what"] for e in events)
    shot(page, "chart-release")


def test_acknowledge_with_a_verdict_and_silence_from_the_app_are_stored(server, page, incidents) -> None:
    [incident] = [i for i in incidents.incidents() if i.product == "attribute_classifier"]
    open_page(server, page, "/alerts")
    page.locator("summary").filter(has_text=f"#{incident.id} ·").click()
    members = table_rows(page, f"incident-{incident.id}")
    assert {m["series"] for m in members} == {"(all)", *{f"previous={s}" for s in
                                                         ("student", "family", "senior", "professional")}}  # fmt: skip
    form = page.locator("[data-testid='stExpander']").filter(has_text=f"#{incident.id} ·")
    form.get_by_role("radiogroup", name="Verdict").get_by_text("expected", exact=True).click()
    form.get_by_role("textbox", name="Note").fill("planned v2 release")
    form.get_by_role("button", name="Acknowledge").click()
    page.get_by_text(f"Incident #{incident.id} acknowledged: expected.").wait_for()
    stored = incidents.incident(incident.id)
    assert (stored.verdict, stored.note, stored.acknowledged_by) == ("expected", "planned v2 release", USER)
    precision = {(r["product"], r["rule"]): r["precision"] for r in table_rows(page, "precision")}
    assert precision[("attribute_classifier", "detect[0]")] == "0% (0 of 1 real)"

    page.locator("summary").filter(has_text=f"#{incident.id} ·").click()
    form = page.locator("[data-testid='stExpander']").filter(has_text=f"#{incident.id} ·")
    assert form.get_by_role("textbox", name="Metric (glob)").input_value() == "churn.rate"
    form.get_by_role("textbox", name="Reason").fill("v2 rollout continues")
    form.get_by_role("button", name="Silence").click()
    page.get_by_text("saved until").wait_for()
    [silence] = incidents.silences(datasources=["attribute-classifier"])
    assert (silence.metric, silence.product, silence.author, silence.reason) == (
        "churn.rate",
        "attribute_classifier",
        USER,
        "v2 rollout continues",
    )
    assert silence.active() and silence.ends_at - silence.created_at > timedelta(hours=20)
    assert [r["reason"] for r in table_rows(page, "silences")] == ["v2 rollout continues"]
    shot(page, "alerts-acknowledged-silenced")


def datetime_utc(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def datetime_ms(day: date) -> int:
    return int(datetime_utc(day).timestamp() * 1000)
