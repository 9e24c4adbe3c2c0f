"""Materializing a product's partitions in process: metrics stored, the GX check passes and fails, blocking."""

from datetime import date, timedelta

import dagster as dg
import numpy as np
import pytest

from lupus_dagster.assets.product_assets import build_product_assets
from lupus_dagster.demo.generate import forecaster_day
from lupus_dagster.product_spec import ProductSpec
from lupus_dagster.resources.store import MetricStoreResource
from lupus_store import MetricStore

pytestmark = pytest.mark.slow
START = date(2026, 3, 1)


@pytest.fixture
def product(tmp_path, monkeypatch):
    monkeypatch.setenv("LUPUS_DATA_ROOT", str(tmp_path / "data"))
    rng = np.random.default_rng(3)
    for n in range(4):
        day = START + timedelta(days=n)
        frame = forecaster_day(day, half_empty=n == 3, rng=rng)
        target = tmp_path / "data" / "forecasts" / f"date={day.isoformat()}" / "part.parquet"
        target.parent.mkdir(parents=True)
        frame.to_parquet(target)
    spec = ProductSpec.model_validate({
        "product": "forecast", "team": "supply", "datasource": "forecast",
        "partitions": {"start": START.isoformat()}, "source": {"parquet": "forecasts/date={date}/*.parquet"},
        "profile": {"group_by": ["region"], "columns": {"price": ["mean", "null_rate"], "demand": ["p50"]}},
        "evaluate": [{"regression": {"y_true": "demand", "y_pred": "forecast"}}],
        "checks": {"price.null_rate": {"max": 0.05}}, "min_rows": 1500,
        "detect": [{"metrics": ["rows.count"], "detector": {"kind": "threshold", "min": 1800}}],
    })  # fmt: skip
    return spec, MetricStore(tmp_path / "store"), tmp_path


def run_day(spec, store, day, **kwargs):
    return dg.materialize(
        build_product_assets(spec), partition_key=day.isoformat(), raise_on_error=False,
        resources={"store": MetricStoreResource(root=store.root)}, **kwargs,
    )  # fmt: skip


def check_results(result):
    return {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_a_good_day_stores_its_metrics_and_passes_the_check(product):
    spec, store, _ = product
    result = run_day(spec, store, START)
    assert result.success
    assert check_results(result)["ge_validation"].passed
    points = store.read_points("forecast", start=START, end=START)
    overall = points[points["labels"].map(len) == 0].set_index("metric")["value"]
    assert overall["rows.count"] == 2000 and "regression.mae" in overall and "price.null_rate" in overall
    metadata = result.asset_materializations_for_node("forecast__metrics")[0].metadata
    assert metadata["rows"].value == 2000 and metadata["points"].value == len(points)
    assert "rows.count" in metadata["preview"].value


def test_a_half_empty_day_fails_the_check_and_blocks_detection(product):
    spec, store, _ = product
    day = START + timedelta(days=3)
    result = run_day(spec, store, day)
    check = check_results(result)["ge_validation"]
    assert not check.passed
    failures = check.metadata["failed_expectations"].value
    assert "rows.count" in failures and "price.null_rate" in failures
    anomalies_ran = [
        e for e in result.all_events if e.step_key == "forecast__anomalies" and e.event_type_value == "STEP_SUCCESS"
    ]
    assert anomalies_ran == []  # the blocking check stopped the downstream asset
    assert store.read_anomalies("forecast", only_anomalies=False).empty


def test_detection_runs_after_a_passing_check(product):
    spec, store, _ = product
    for n in range(3):
        assert run_day(spec, store, START + timedelta(days=n)).success
    verdicts = store.read_anomalies("forecast", only_anomalies=False)
    assert sorted(set(verdicts["ts"].dt.date)) == [START + timedelta(days=n) for n in range(3)]


def test_a_missing_source_fails_the_partition_and_writes_nothing(product):
    spec, store, _ = product
    day = START + timedelta(days=10)
    result = run_day(spec, store, day)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "source missing: no file matches" in failure.event_specific_data.error.message
    assert f"date={day.isoformat()}" in failure.event_specific_data.error.message
    assert store.read_points("forecast", start=day, end=day).empty
