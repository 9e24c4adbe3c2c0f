import numpy as np
import pandas as pd
import pytest
from metrics.detectors.synthetic_series import noisy

from lupus_metrics.detectors import ThresholdDetector, detect_many
from lupus_metrics.detectors.runner import ERROR_COLUMNS, RECORD_COLUMNS
from lupus_metrics.errors import LupusValidationError
from lupus_metrics.frames import normalize_anomalies
from lupus_metrics.schema import series_id

DAYS = pd.date_range("2025-01-01", periods=60, tz="UTC")
RULES = [
    {"metrics": ["rows.count"], "detector": {"kind": "window", "window": 14, "method": "mad", "threshold": 8}},
    {"metrics": ["*.null_rate"], "labels": {"region": "JP"}, "detector": {"kind": "threshold", "max": 0.05}},
    {"metrics": ["*"], "detector": {"kind": "change_point"}},
]


def series(metric: str, labels: dict[str, str], values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"metric": metric, "labels": [labels] * len(values), "ts": DAYS[: len(values)], "value": values}
    )


def points() -> pd.DataFrame:
    frames = []
    for i, region in enumerate(["JP", "US", "FR"]):
        counts = noisy(60, level=1000, noise=10, seed=i)
        counts[45] -= 200  # a half-empty upstream table, in every region
        frames.append(series("rows.count", {"region": region}, counts))
        rates = np.full(60, 0.01)
        rates[50:] = 0.2  # the null rate jumps from day 50 on
        frames.append(series("age.null_rate", {"region": region}, rates))
    frame = pd.concat(frames, ignore_index=True)
    frame["series_id"] = [series_id("ds", m, lab) for m, lab in zip(frame["metric"], frame["labels"], strict=True)]
    return frame


def alerts(result) -> set[tuple[str, str, str, str]]:
    hits = result.anomalies[result.anomalies["is_anomaly"]]
    return {
        (m, lab["region"], det, ts.strftime("%m-%d"))
        for m, lab, det, ts in zip(hits["metric"], hits["labels"], hits["detector"], hits["ts"], strict=True)
    }


def test_every_matching_rule_runs_on_every_matching_series():
    result = detect_many(points(), RULES, workers=1)
    assert alerts(result) == {
        *(("rows.count", region, "window", "02-15") for region in ("JP", "US", "FR")),
        *(("age.null_rate", region, "change_point", "02-20") for region in ("JP", "US", "FR")),
        *(("age.null_rate", "JP", "threshold", f"02-{day}") for day in range(20, 29)),
        ("age.null_rate", "JP", "threshold", "03-01"),
    }
    assert result.errors.empty


def test_records_cover_every_evaluated_point_and_only_those():
    result = detect_many(points(), RULES[:1], workers=1)
    # Window of 14 points: the first 14 days of each of the 3 series have no baseline.
    assert len(result.anomalies) == 3 * (60 - 14)


def test_a_point_with_an_expected_value_is_recorded_even_without_a_score():
    # S-H-ESD scores only the points its test reached, but gives every point an expected value.
    result = detect_many(points(), [{"metrics": ["rows.count"], "detector": {"kind": "seasonal_esd"}}], workers=1)
    assert len(result.anomalies) == 3 * 60
    assert result.anomalies["score"].isna().any()


def test_records_follow_the_anomaly_data_model():
    result = detect_many(points(), RULES, workers=1, run_id="run-1")
    assert tuple(result.anomalies.columns) == RECORD_COLUMNS
    normalized = normalize_anomalies(result.anomalies, "ds")
    assert (normalized["series_id"] == result.anomalies["series_id"]).all()
    assert set(result.anomalies["run_id"]) == {"run-1"}
    window = result.anomalies[result.anomalies["detector"] == "window"]
    assert window["params"].iloc[0]["method"] == "mad"


def test_series_id_is_computed_from_the_datasource_when_missing():
    frame = points().drop(columns="series_id")
    result = detect_many(frame, RULES[:1], datasource="ds", workers=1)
    assert set(result.anomalies["series_id"]) == set(points().query("metric == 'rows.count'")["series_id"])


def test_missing_series_id_without_datasource_names_the_parameter():
    with pytest.raises(LupusValidationError, match="datasource"):
        detect_many(points().drop(columns="series_id"), RULES, workers=1)


def test_a_failing_series_is_reported_and_the_others_still_run():
    frame = points()
    broken = frame[(frame["metric"] == "rows.count") & (frame["labels"].map(lambda lab: lab["region"] == "US"))]
    frame = pd.concat([frame, broken.iloc[:1]], ignore_index=True)  # a duplicate timestamp in one series
    result = detect_many(frame, RULES[:1], workers=1)
    assert tuple(result.errors.columns) == ERROR_COLUMNS
    assert result.errors["labels"].tolist() == [{"region": "US"}]
    assert "duplicate timestamps" in result.errors["error"].iloc[0]
    assert {lab["region"] for lab in result.anomalies["labels"]} == {"JP", "FR"}


class FailsOnNegatives(ThresholdDetector):
    """A detector that raises inside judge for one series: the batch call fails as a whole."""

    def judge(self, series, *, period=None):
        if (series < 0).any():
            raise ValueError("negative values")
        return super().judge(series, period=period)


def test_a_detector_failing_inside_a_batch_fails_only_that_series():
    frame = points()
    frame = frame[frame["metric"] == "rows.count"].copy()
    frame.loc[frame["labels"].map(lambda lab: lab["region"] == "FR"), "value"] *= -1
    result = detect_many(frame, [{"metrics": ["*"], "detector": FailsOnNegatives(max=1e9)}], workers=1)
    assert result.errors["labels"].tolist() == [{"region": "FR"}]
    assert result.errors["error"].tolist() == ["ValueError: negative values"]
    assert result.anomalies.groupby(result.anomalies["labels"].map(lambda lab: lab["region"])).size().to_dict() == {
        "JP": 60,
        "US": 60,
    }


def test_the_first_rule_of_a_kind_wins_for_a_series():
    rules = [
        {"metrics": ["age.*"], "detector": {"kind": "threshold", "max": 1.0}},
        {"metrics": ["*.null_rate"], "detector": {"kind": "threshold", "max": 0.05}},
    ]
    result = detect_many(points(), rules, workers=1)
    assert not result.anomalies["is_anomaly"].any()


def test_a_process_pool_gives_the_same_records_as_one_process():
    serial = detect_many(points(), RULES, workers=1)
    pooled = detect_many(points(), RULES, workers=2)
    pd.testing.assert_frame_equal(serial.anomalies, pooled.anomalies)


def test_an_unknown_backend_is_rejected_by_name():
    with pytest.raises(LupusValidationError, match="backend"):
        detect_many(points(), RULES, backend="dask")


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_workers_must_be_a_positive_integer(workers):
    with pytest.raises(LupusValidationError, match="workers"):
        detect_many(points(), RULES, workers=workers)


def test_no_matching_rule_gives_empty_results():
    result = detect_many(points(), [{"metrics": ["nothing.*"], "detector": {"kind": "window"}}], workers=1)
    assert result.anomalies.empty and result.errors.empty
    assert tuple(result.anomalies.columns) == RECORD_COLUMNS


@pytest.mark.spark
@pytest.mark.slow
def test_spark_and_process_backends_return_identical_records(spark):
    rules = [
        *RULES,
        {"metrics": ["rows.count"], "labels": {"region": "JP"}, "detector": {"kind": "prophet"}},
        {"metrics": ["rows.count"], "labels": {"region": "US"}, "detector": {"kind": "seasonal_esd"}},
        {"metrics": ["rows.count"], "detector": {"kind": "auto", "min_history": 14}},
    ]
    frame = points()
    frame["stderr"] = np.where(frame["metric"] == "rows.count", 3.0, np.nan)  # auto reads it
    frame = pd.concat([frame, frame.iloc[:1]], ignore_index=True)  # one failing series too
    local = detect_many(frame, rules, workers=2)
    on_spark = detect_many(frame, rules, backend="spark", spark=spark)
    assert local.anomalies["is_anomaly"].sum() > 0
    assert "threshold" in local.anomalies.loc[local.anomalies["detector"] == "auto", "params"].iloc[-1]
    assert len(local.errors) == 4  # the broken series matches four rules
    pd.testing.assert_frame_equal(local.anomalies, on_spark.anomalies)
    pd.testing.assert_frame_equal(local.errors, on_spark.errors)


@pytest.mark.spark
def test_spark_backend_accepts_a_spark_dataframe(spark):
    frame = points()
    sdf = spark.createDataFrame(
        frame, "metric string, labels map<string,string>, ts timestamp, value double, series_id string"
    )
    on_spark = detect_many(sdf, RULES, backend="spark", spark=spark)
    pd.testing.assert_frame_equal(detect_many(frame, RULES, workers=1).anomalies, on_spark.anomalies)


def test_by_default_cheap_detectors_run_in_this_process_and_others_in_a_pool(monkeypatch):
    from lupus_metrics.detectors import runner

    pools = []

    class CountingPool(runner.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(kwargs.get("max_workers"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(runner, "ProcessPoolExecutor", CountingPool)
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 2)
    detect_many(points(), RULES[:2])  # window and threshold only
    assert pools == []
    detect_many(points(), RULES)  # plus change points
    assert pools == [2]
