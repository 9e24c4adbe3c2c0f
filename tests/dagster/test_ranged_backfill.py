"""Ranged backfills: many partitions per Dagster run, the same points and anomalies as one run per day.

The per-partition path is the daily cron path (`materialize` with one partition key); the
ranged path is `backfill_product`, which runs spans of `days_per_run` days as single runs,
as a backfill from the Dagster UI does under the assets' backfill policy.
"""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from lupus_dagster.assets.product_assets import build_product_assets, metrics_key
from lupus_dagster.demo.backfill import backfill_product
from lupus_dagster.demo.generate import forecaster_day
from lupus_dagster.product_spec import ProductSpec
from lupus_dagster.resources.store import MetricStoreResource
from lupus_store import MetricStore

pytestmark = pytest.mark.slow
START = date(2026, 3, 1)
DAYS = [START + timedelta(days=n) for n in range(18)]
HALF_EMPTY, MISSING, SKEWED = DAYS[12], DAYS[6], DAYS[15]
POINT_COLUMNS = ["metric", "ts", "value", "series_id"]
VERDICT_COLUMNS = ["metric", "ts", "value", "expected", "lower", "upper", "score", "is_anomaly", "series_id"]


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    root = tmp_path_factory.mktemp("ranged")
    rng = np.random.default_rng(5)
    for day in DAYS:
        frame = forecaster_day(day, half_empty=day == HALF_EMPTY, rng=rng)
        if day == SKEWED:  # a forecast 60% too high: regression errors jump, the detector flags them
            frame["forecast"] *= 1.6
        if day == MISSING:
            continue
        target = root / "data" / "forecasts" / f"date={day.isoformat()}" / "part.parquet"
        target.parent.mkdir(parents=True)
        frame.to_parquet(target)
    spec = ProductSpec.model_validate({
        "product": "forecast", "team": "supply", "datasource": "forecast",
        "partitions": {"start": START.isoformat(), "days_per_run": 7},
        "source": {"parquet": "forecasts/date={date}/*.parquet"},
        "profile": {"group_by": ["region"], "columns": {"price": ["mean", "null_rate"], "demand": ["p50"]}},
        "evaluate": [{"regression": {"y_true": "demand", "y_pred": "forecast", "group_by": ["region"]}}],
        "checks": {"price.null_rate": {"max": 0.05}}, "min_rows": 1500,
        "detect": [{"metrics": ["regression.*", "rows.count"],
                    "detector": {"kind": "window", "window": 5, "method": "mad", "threshold": 6}}],
        "lookback_days": 12,
    })  # fmt: skip
    return spec, root


@pytest.fixture(scope="module")
def both_paths(product):
    spec, root = product
    mp = pytest.MonkeyPatch()
    mp.setenv("LUPUS_DATA_ROOT", str(root / "data"))
    try:
        daily_store = MetricStore(root / "daily")
        assets = build_product_assets(spec)
        with dg.instance_for_test() as instance:
            for day in DAYS:
                dg.materialize(
                    assets, partition_key=day.isoformat(), instance=instance, raise_on_error=False,
                    resources={"store": MetricStoreResource(root=str(daily_store.root))},
                )  # fmt: skip
        ranged_store = MetricStore(root / "ranged")
        with dg.instance_for_test() as instance:
            outcomes = backfill_product(
                spec, DAYS, instance=instance, resources={"store": MetricStoreResource(root=str(ranged_store.root))}
            )
            runs = instance.get_runs()
            evaluations = [
                record.event_log_entry.dagster_event.event_specific_data
                for run in runs
                for record in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
            ]  # fmt: skip
            materializations = {
                record.partition_key: record.asset_materialization.metadata
                for record in instance.fetch_materializations(metrics_key(spec), limit=1000).records
            }
        yield daily_store, ranged_store, outcomes, runs, evaluations, materializations
    finally:
        mp.undo()


def _sorted(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame[columns].sort_values(["series_id", "ts"]).reset_index(drop=True)


def test_a_ranged_backfill_stores_the_same_points_as_one_run_per_day(both_paths):
    daily, ranged, *_ = both_paths
    expected = daily.read_points("forecast")
    got = ranged.read_points("forecast")
    assert len(expected) > len(DAYS) * 10
    pd.testing.assert_frame_equal(_sorted(got, POINT_COLUMNS), _sorted(expected, POINT_COLUMNS))


def test_a_ranged_backfill_finds_the_same_anomalies_as_one_run_per_day(both_paths):
    daily, ranged, *_ = both_paths
    expected = daily.read_anomalies("forecast", only_anomalies=False)
    got = ranged.read_anomalies("forecast", only_anomalies=False)
    assert expected["is_anomaly"].any() and set(expected[expected["is_anomaly"]]["ts"].dt.date) >= {SKEWED}
    pd.testing.assert_frame_equal(_sorted(got, VERDICT_COLUMNS), _sorted(expected, VERDICT_COLUMNS))


def test_days_whose_check_failed_or_source_is_missing_get_no_verdicts(both_paths):
    _, ranged, outcomes, *_ = both_paths
    judged = set(ranged.read_anomalies("forecast", only_anomalies=False)["ts"].dt.date)
    assert HALF_EMPTY not in judged and MISSING not in judged
    by_day = {o.day: o for o in outcomes}
    assert by_day[HALF_EMPTY].check_passed is False and by_day[HALF_EMPTY].success
    assert by_day[MISSING].success is False and "no file matches" in by_day[MISSING].failure
    assert by_day[SKEWED].anomalies >= 1 and by_day[SKEWED].check_passed


def test_each_span_of_days_runs_as_one_dagster_run(both_paths):
    *_, runs, _, _ = both_paths
    spans = sorted(
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]) for r in runs
    )
    assert spans == [(DAYS[0].isoformat(), DAYS[6].isoformat()), (DAYS[7].isoformat(), DAYS[13].isoformat()),
                     (DAYS[14].isoformat(), DAYS[17].isoformat())]  # fmt: skip


def test_every_partition_has_its_own_check_result_and_metadata(both_paths):
    *_, evaluations, materializations = both_paths
    ge = {e.partition: e for e in evaluations if e.check_name == "ge_validation"}
    assert sorted(ge) == [day.isoformat() for day in DAYS]
    assert sorted(day for day, e in ge.items() if not e.passed) == sorted([MISSING.isoformat(), HALF_EMPTY.isoformat()])
    assert "rows.count" in ge[HALF_EMPTY.isoformat()].metadata["failed_expectations"].value
    assert materializations[HALF_EMPTY.isoformat()]["rows"].value == 1000
    assert materializations[DAYS[0].isoformat()]["rows"].value == 2000
    assert str(materializations[MISSING.isoformat()]["source"].value).startswith("missing: no file matches")


def test_a_backfill_repeated_over_part_of_the_range_replaces_its_days_in_place(product, both_paths):
    spec, root = product
    _, ranged, *_ = both_paths
    before = ranged.read_points("forecast")
    with dg.instance_for_test() as instance, pytest.MonkeyPatch.context() as mp:
        mp.setenv("LUPUS_DATA_ROOT", str(root / "data"))
        backfill_product(
            spec, DAYS[3:8], instance=instance, resources={"store": MetricStoreResource(root=str(ranged.root))}
        )
    after = ranged.read_points("forecast")
    pd.testing.assert_frame_equal(_sorted(after, POINT_COLUMNS), _sorted(before, POINT_COLUMNS))
    files = sorted(Path(ranged.root).glob("points/datasource=forecast/date=*/*.parquet"))
    assert len(files) == len(DAYS) - 1  # one file per datasource-day (none for the missing day)
