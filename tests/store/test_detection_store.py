"""detect_and_store: detection over stored history, with excluded days and points."""

import numpy as np
import pandas as pd
import pytest

from lupus_store import MetricStore
from lupus_store.detection import detect_and_store

DAYS = pd.date_range("2026-01-05", periods=120, tz="UTC")


@pytest.fixture
def store(tmp_path):
    store = MetricStore(str(tmp_path / "store"))
    rng = np.random.default_rng(3)
    values = 1000 + rng.normal(0, 10, len(DAYS))
    # A broken day whose blocking check failed, yet within the detector's band (threshold 5).
    values[80] = 1045.0
    for day, value in zip(DAYS, values, strict=True):
        frame = pd.DataFrame({"metric": ["rows.count"], "labels": [{}], "ts": [day], "value": [value]})
        store.write_points("ds", frame, day=day.date(), writer="m")
    return store


RULES = [{"metrics": ["rows.count"], "detector": {"kind": "window", "window": 14, "threshold": 5}}]


def verdicts(store, **options):
    detect_and_store(store, "ds", RULES, start=DAYS[81].date(), end=DAYS[90].date(), writer="a", workers=1,
                     **options)  # fmt: skip
    return store.read_anomalies("ds", only_anomalies=False).set_index("ts").sort_index()


def test_a_failed_day_poisons_the_window_unless_excluded(store):
    polluted = verdicts(store)
    clean = verdicts(store, excluded=[DAYS[80].date()])
    # With the broken day in the 14-day baseline, the band is much wider.
    width = lambda v: (v["upper"] - v["lower"]).iloc[0]  # noqa: E731
    assert not polluted["is_anomaly"].any()
    assert width(polluted) > 1.4 * width(clean)


def test_a_point_can_be_excluded_by_series_and_timestamp(store):
    series_id = store.read_points("ds")["series_id"].iloc[0]
    by_day = verdicts(store, excluded=[DAYS[80].date().isoformat()])
    by_point = verdicts(store, excluded=[(series_id, DAYS[80])])
    pd.testing.assert_series_equal(by_day["upper"], by_point["upper"])


def test_an_excluded_item_of_the_wrong_kind_is_refused(store):
    with pytest.raises(TypeError, match="excluded"):
        verdicts(store, excluded=[42])


# The coordinator's integration test (the ranged Dagster backfill of issue 18 meets the baselines of
# issue 14): a day's verdict must not depend on where a run's history starts. The daily cron path runs
# detection for one day with `lookback_days` of history; a ranged backfill runs it once over many days;
# a backtest replays it. All three must give the same verdicts, also after an incident that detectors
# leave out of later baselines and after a lasting level shift.
INCIDENT_RULES = {
    "window": (
        [{"metrics": ["rows.count"], "detector": {"kind": "window", "window": 14, "method": "mad", "threshold": 4}}],
        45,
    ),
    "short window": (
        [{"metrics": ["rows.count"], "detector": {"kind": "window", "window": 5, "method": "mad", "threshold": 6}}],
        12,
    ),
    "auto": ([{"metrics": ["rows.count"]}], 45),
}


@pytest.fixture
def incident_store(tmp_path):
    store = MetricStore(str(tmp_path / "store"))
    rng = np.random.default_rng(11)
    values = 1000 + 20 * np.sin(2 * np.pi * np.arange(len(DAYS)) / 7) + rng.normal(0, 10, len(DAYS))
    values[60] = 700.0  # a one-day dip
    values[75:78] += 150  # a three-day excursion
    values[95:] += 120  # a lasting shift
    for day, value in zip(DAYS, values, strict=True):
        frame = pd.DataFrame({"metric": ["rows.count"], "labels": [{}], "ts": [day], "value": [value]})
        store.write_points("ds", frame, day=day.date(), writer="m")
    return store


@pytest.mark.parametrize("kind", INCIDENT_RULES)
def test_a_days_verdict_does_not_depend_on_where_the_run_starts(incident_store, kind):
    (rules, lookback), judged = INCIDENT_RULES[kind], DAYS[45:]
    for day in judged:  # the cron path: one day at a time, each with its own lookback
        detect_and_store(incident_store, "ds", rules, start=day.date(), end=day.date(), writer="daily",
                         lookback_days=lookback, workers=1)  # fmt: skip
    detect_and_store(incident_store, "ds", rules, start=judged[0].date(), end=judged[-1].date(), writer="ranged",
                     lookback_days=lookback, workers=1)  # fmt: skip
    columns = ["ts", "value", "expected", "lower", "upper", "score", "is_anomaly"]
    rows = incident_store.stored_rows("anomalies", "ds", first=DAYS[0].date(), last=DAYS[-1].date())
    daily = rows[rows["writer"] == "daily"][columns].sort_values("ts").reset_index(drop=True)
    ranged = rows[rows["writer"] == "ranged"][columns].sort_values("ts").reset_index(drop=True)
    assert daily["is_anomaly"].any() and len(daily) == len(ranged)
    pd.testing.assert_frame_equal(daily, ranged)


def test_a_backtest_raises_the_alerts_the_daily_runs_stored(incident_store):
    from lupus_metrics.detectors import AutoDetector, backtest

    rules, lookback = INCIDENT_RULES["auto"]
    for day in DAYS[45:]:
        detect_and_store(incident_store, "ds", rules, start=day.date(), end=day.date(), writer="daily",
                         lookback_days=lookback, workers=1)  # fmt: skip
    live = incident_store.read_anomalies("ds")
    points = incident_store.read_points("ds").set_index("ts")["value"]
    report = backtest(points, AutoDetector(), warmup=45, lookback=lookback)
    assert len(live) > 0
    assert list(report.alerts.index) == sorted(live["ts"])
    assert report.alerts["delay"].eq(0).all()
