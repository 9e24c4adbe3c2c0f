"""The demo's incidents on other calendars and seeds: each alerted on its day, nothing else alerted.

Replays the assets' computation without Dagster (``lupus_dagster.demo.replay``;
``benchmarks/demo_replay.py`` runs 20 calendars); ``test_incident_replay.py`` shows the same
claim through Dagster on the demo's own calendar.
"""

from datetime import date, timedelta

import pytest

from lupus_dagster.demo.generate import DemoCalendar
from lupus_dagster.demo.replay import replay_demo

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


@pytest.mark.parametrize("k", [3, 11, 18])
def test_other_calendars_alert_every_incident_on_its_day_and_nothing_else(tmp_path, k):
    # Calendars of benchmarks/demo_replay.py: a different end day and seed, so other incident days and data.
    calendar = DemoCalendar.ending(date(2026, 1, 15) + timedelta(days=17 * k), 90, seed=k)
    outcomes = replay_demo(tmp_path, calendar, seed=k)
    assert {o.product for o in outcomes} == {"recommend", "attribute_classifier", "demand_forecaster"}
    for outcome in outcomes:
        assert outcome.incident_alerted, (outcome.product, outcome.incident)
        assert outcome.false_alerts == [], outcome.product
