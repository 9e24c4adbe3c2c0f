"""Incident replay: the demo pipeline, end to end through Dagster, alerts on each incident's first day only.

Runs `lupus demo --no-serve` (generate, backfill every partition, detect, evaluate the alert
sensors) in its own process and reads the alert files the products' file channels wrote. Other
calendars and seeds are checked in ``test_incident_replay_calendars.py`` (a file of its own so
that parallel test workers take it while this one builds the demo).
"""

import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import date, timedelta

import pytest

from lupus_dagster.demo.generate import DemoCalendar

# The whole demo backfill runs in the fixture: minutes, not seconds.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
DAYS, TODAY = 70, date(2026, 6, 1)


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    return tmp_path_factory.mktemp("demo-home")


@pytest.fixture(scope="module")
def replay(demo_home):
    home = demo_home
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUPUS_", "DAGSTER_"))}
    env["LUPUS_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-c", "from lupus_cli.main import app; app()", "demo", "--no-serve",
         "--days", str(DAYS), "--today", TODAY.isoformat()],
        env=env, capture_output=True, text=True, timeout=3000,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    alerts: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for path in (home / "alerts").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            message = json.loads(line)
            alerts[message["product"]][message["day"]].extend(message["alerts"])
    return result.stdout, alerts, DemoCalendar.ending(TODAY - timedelta(days=1), DAYS)


@pytest.fixture(scope="module")
def messages(replay, demo_home):
    """Every chat message the demo's file channels received, in order."""
    return [
        json.loads(line) for path in (demo_home / "alerts").glob("*.jsonl") for line in path.read_text().splitlines()
    ]


def test_the_demo_says_where_everything_is(replay):
    stdout, _, _ = replay
    assert "Metric store:" in stdout and "Alerts:" in stdout


def test_the_broken_jp_feature_alerts_on_its_first_day(replay):
    _, alerts, calendar = replay
    day = calendar.recommend_incident.isoformat()
    assert any(a.get("metric", "").startswith("ranking.") and (a.get("labels") or {}).get("region") == "JP"
               for a in alerts["recommend"][day])  # fmt: skip


def test_the_model_release_alerts_on_its_first_day(replay):
    _, alerts, calendar = replay
    day = calendar.classifier_release.isoformat()
    assert any(a.get("metric") == "churn.rate" for a in alerts["attribute_classifier"][day])


def test_the_half_empty_upstream_table_alerts_on_its_first_day(replay):
    _, alerts, calendar = replay
    day = calendar.forecaster_incident.isoformat()
    assert alerts["demand_forecaster"][day], "expected the failed validation check to alert"
    assert any("rows.count" in json.dumps(a) and a.get("link") for a in alerts["demand_forecaster"][day])


def test_a_clean_stretch_of_thirty_days_raises_no_alert(replay):
    _, alerts, calendar = replay
    clean = {(calendar.first + timedelta(days=n)).isoformat() for n in range(14, 44)}
    assert calendar.recommend_incident.isoformat() not in clean
    noisy = {product: sorted(set(days) & clean) for product, days in alerts.items() if set(days) & clean}
    assert noisy == {}


def test_each_incident_alerts_only_once_per_product(replay):
    _, alerts, calendar = replay
    incident_days = {
        "recommend": calendar.recommend_incident, "attribute_classifier": calendar.classifier_release,
        "demand_forecaster": calendar.forecaster_incident,
    }  # fmt: skip
    assert set(alerts) == set(incident_days)
    for product, days in alerts.items():
        assert set(days) == {incident_days[product].isoformat()}, (product, sorted(days))


def test_three_incidents_arrive_as_three_messages_with_headline_and_slices(replay, messages):
    _, _, calendar = replay
    opened = [m for m in messages if m["event"] == "opened"]
    assert sorted(m["product"] for m in opened) == ["attribute_classifier", "demand_forecaster", "recommend"]
    assert all(m["headline"] and m["headline"] in m["title"] for m in opened)
    recommend = next(m for m in opened if m["product"] == "recommend")
    assert recommend["day"] == calendar.recommend_incident.isoformat()
    # The overall ranking alert names the broken segment as explaining most of the drop.
    top = recommend["top_slices"][0]
    assert top["labels"] == {"region": "JP"} and top["share"] >= 0.8, recommend["top_slices"]
    assert "region=JP explains" in recommend["headline"]
