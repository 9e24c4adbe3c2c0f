"""A failed check says which rule failed, on which metric, with the observed value."""

import pandas as pd

from lupus_dagster.assets.validation import validate_day
from lupus_dagster.product_spec import ProductSpec

SPEC = ProductSpec.model_validate({
    "product": "shop", "team": "t", "datasource": "shop", "partitions": {"start": "2026-01-01"},
    "source": {"parquet": "x/{date}.parquet"}, "min_rows": 1500,
    "checks": {"price.null_rate": {"max": 0.05}, "demand.mean": {"min": 1, "max": 500}, "margin.*": {"min": 0}},
})  # fmt: skip


def day(values: dict[str, float | None]) -> pd.DataFrame:
    frame = pd.DataFrame({"metric": list(values), "labels": [{}] * len(values), "value": list(values.values())})
    return frame.assign(series_id=frame["metric"], ts=pd.Timestamp("2026-01-10", tz="UTC"))


def test_each_failure_names_the_rule_the_metric_and_the_observed_value():
    outcome = validate_day(day({"rows.count": 700.0, "price.null_rate": 0.52, "demand.mean": 120.0}), SPEC)
    assert not outcome.passed
    assert "rule min_rows: rows.count = 700 is below the minimum 1500" in outcome.failures
    assert "rule checks['price.null_rate']: price.null_rate = 0.52 is above the maximum 0.05" in outcome.failures
    assert "rule checks['margin.*']: no such metric was computed for the overall group" in outcome.failures
    assert outcome.failed_metrics == ["rows.count", "price.null_rate"]
    assert outcome.alert_metadata() == {"metric": "rows.count", "metrics": "rows.count\nprice.null_rate"}


def test_a_missing_value_is_said_to_be_missing():
    spec = SPEC.model_copy(update={"checks": {"demand.mean": SPEC.checks["demand.mean"]}})
    outcome = validate_day(day({"rows.count": 2000.0, "demand.mean": None}), spec)
    assert outcome.failures == ["rule checks['demand.mean']: demand.mean is missing (null)"]


def test_a_good_day_passes_without_alert_metadata():
    spec = SPEC.model_copy(update={"checks": {}})
    outcome = validate_day(day({"rows.count": 2000.0}), spec)
    assert outcome.passed and outcome.alert_metadata() == {}
