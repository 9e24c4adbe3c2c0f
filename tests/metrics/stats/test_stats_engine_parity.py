"""The same spec on the same data in pandas (DuckDB) and in Spark local mode yields the same
points: exactly, except quantiles (percentile_approx, within its documented rank error) and
approximate distinct counts (within their relative standard deviation)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from metrics.stats.stats_fixtures import COLUMNS, TS, profile_frame

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.stats import ProfileSpec, compute_profile

pytestmark = [pytest.mark.spark, pytest.mark.slow]

SPARK_SCHEMA = (
    "region string, score double, visits bigint, category string, flag boolean, seen timestamp, tags array<string>"
)
QUANTILE = re.compile(r"^(?P<column>\w+)\.(?P<length>length_)?p(?P<percent>[\d.]+)$")


def to_spark(spark, frame: pd.DataFrame):
    def plain(v):
        if isinstance(v, list):
            return [str(e) for e in v]
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
            return None
        if isinstance(v, pd.Timestamp):
            return v.to_pydatetime()
        return v.item() if isinstance(v, np.generic) else v

    rows = [tuple(plain(v) for v in row) for row in frame.astype(object).itertuples(index=False)]
    return spark.createDataFrame(rows, SPARK_SCHEMA)


def keyed(points: pd.DataFrame) -> dict[tuple[str, tuple], float]:
    return {(p.metric, tuple(sorted(p.labels.items()))): p.value for p in points.itertuples()}


@pytest.fixture(scope="module")
def frames(spark):
    frame = profile_frame()
    return frame, to_spark(spark, frame)


def supports(points: pd.DataFrame) -> dict[tuple[str, tuple], tuple[float, float]]:
    return {(p.metric, tuple(sorted(p.labels.items()))): (p.n, p.stderr) for p in points.itertuples()}


@pytest.fixture(scope="module")
def profiles(frames):
    frame, spark_frame = frames
    spec = ProfileSpec(group_by=["region"], columns=COLUMNS)
    return compute_profile(frame, spec, ts=TS), compute_profile(spark_frame, spec, ts=TS), spec


@pytest.fixture(scope="module")
def both(profiles):
    pandas_points, spark_points, spec = profiles
    return keyed(pandas_points), keyed(spark_points), spec


def test_n_and_stderr_are_equal_in_both_engines(profiles):
    pandas_points, spark_points, _ = profiles
    pandas_support, spark_support = supports(pandas_points), supports(spark_points)
    assert set(pandas_support) == set(spark_support)
    for key, (n, stderr) in pandas_support.items():
        assert spark_support[key][0] == n, key
        if math.isnan(stderr):
            assert math.isnan(spark_support[key][1]), key
        else:
            assert spark_support[key][1] == pytest.approx(stderr, rel=1e-9, abs=1e-12), key
    assert pandas_points["stderr"].notna().sum() > 50


def group_values(frame: pd.DataFrame, labels: dict[str, str], column: str, *, length: bool) -> np.ndarray:
    rows = frame
    if "region" in labels:
        region = labels["region"]
        rows = frame[frame["region"].isna()] if region == "__null__" else frame[frame["region"] == region]
    values = [
        v
        for v in rows[column].tolist()
        if v is not None and not (isinstance(v, float) and math.isnan(v)) and v is not pd.NA
    ]
    return np.sort(np.asarray([len(v) for v in values] if length else values, dtype="float64"))


def test_both_engines_emit_the_same_series(both):
    pandas_points, spark_points, _ = both
    assert set(pandas_points) == set(spark_points)


def test_exact_stats_are_equal_in_both_engines(both):
    pandas_points, spark_points, _ = both
    for key, value in pandas_points.items():
        if QUANTILE.match(key[0]):
            continue
        if math.isnan(value):
            assert math.isnan(spark_points[key]), key
        else:
            assert spark_points[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_spark_quantiles_are_within_the_documented_rank_error(both, frames):
    pandas_points, spark_points, spec = both
    frame, _ = frames
    accuracy = spec.spark.quantile_accuracy
    checked = 0
    for (metric, labels), value in spark_points.items():
        match = QUANTILE.match(metric)
        if not match:
            continue
        x = group_values(frame, dict(labels), match["column"], length=bool(match["length"]))
        if not len(x):
            assert math.isnan(value) and math.isnan(pandas_points[(metric, labels)])
            continue
        q = float(match["percent"]) / 100
        # Spark returns an element of the group whose rank is within n/accuracy of q*n.
        below, at_or_below = np.searchsorted(x, value, "left") / len(x), np.searchsorted(x, value, "right") / len(x)
        slack = 1 / accuracy + 1 / len(x)
        assert below - slack <= q <= at_or_below + slack, (metric, labels, value)
        assert value in x
        checked += 1
    assert checked > 20


def test_spark_approximate_distinct_count_is_within_its_relative_error(spark):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"user": [f"u{i}" for i in rng.integers(0, 20_000, 30_000)]})
    spec = ProfileSpec(columns={"user": ["distinct_count"]}, spark={"distinct": "approx", "distinct_rsd": 0.05})
    exact = keyed(compute_profile(frame, spec, ts=TS))[("user.distinct_count", ())]
    approx = keyed(compute_profile(spark.createDataFrame(frame), spec, ts=TS))[("user.distinct_count", ())]
    assert exact == frame["user"].nunique()
    assert abs(approx - exact) <= 3 * 0.05 * exact


def test_empty_spark_frame_gives_the_overall_group_with_zero_counts(spark):
    empty = spark.createDataFrame([], "region string, score double")
    points = keyed(compute_profile(empty, {"group_by": ["region"], "columns": {"score": ["count", "mean"]}}, ts=TS))
    assert points[("rows.count", ())] == 0
    assert points[("score.count", ())] == 0
    assert math.isnan(points[("score.mean", ())])


def test_spark_filter_and_nan_as_null(spark):
    frame = spark.createDataFrame([(1.0,), (float("nan"),), (None,), (5.0,)], "score double")
    points = keyed(
        compute_profile(
            frame, {"columns": {"score": ["count", "mean"]}, "filter": "score <> 5 OR score IS NULL"}, ts=TS
        )
    )
    assert (points[("rows.count", ())], points[("score.count", ())], points[("score.mean", ())]) == (3, 1, 1.0)


def test_untyped_all_null_column_profiles_alike_in_both_engines(spark):
    frame = pd.DataFrame({"region": ["JP", "US"], "note": [None, None]})
    spec = {"group_by": ["region"], "columns": {"note": ["count", "null_rate", "topk:3", "other_share"]}}
    spark_frame = spark.createDataFrame(frame)
    assert type(spark_frame.schema["note"].dataType).__name__ == "NullType"
    pandas_points = keyed(compute_profile(frame, spec, ts=TS))
    spark_points = keyed(compute_profile(spark_frame, spec, ts=TS))
    assert set(pandas_points) == set(spark_points)
    assert pandas_points[("note.count", ())] == spark_points[("note.count", ())] == 0
    assert (
        pandas_points[("note.null_rate", (("region", "JP"),))]
        == spark_points[("note.null_rate", (("region", "JP"),))]
        == 1
    )


def test_spark_filter_on_an_unknown_column_is_a_validation_error(spark):
    frame = spark.createDataFrame([(1.0,)], "score double")
    with pytest.raises(LupusValidationError, match=re.escape("profile.filter: Spark rejects the filter")):
        compute_profile(frame, {"columns": {"score": ["mean"]}, "filter": "scroe > 0"}, ts=TS)
