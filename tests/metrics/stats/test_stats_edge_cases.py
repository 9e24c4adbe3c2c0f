"""Edge cases of compute_profile on the pandas engine: empty and all-null input, the three
flavours of null, Arrow input, filter, sample, several group-by columns, label limits."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lupus_metrics.stats import NULL_LABEL, ProfileSpec, compute_profile

TS = "2026-01-10T00:00:00Z"


def by_key(points: pd.DataFrame) -> dict[tuple[str, tuple], float]:
    return {(p.metric, tuple(sorted(p.labels.items()))): p.value for p in points.itertuples()}


def test_empty_frame_gives_zero_counts_and_null_stats_for_the_overall_group():
    df = pd.DataFrame({"region": pd.Series([], dtype=object), "score": pd.Series([], dtype="float64")})
    points = by_key(
        compute_profile(
            df, {"group_by": ["region"], "columns": {"score": ["count", "mean", "null_rate", "p50"]}}, ts=TS
        )
    )
    assert points[("rows.count", ())] == 0
    assert points[("score.count", ())] == 0
    assert all(math.isnan(points[(m, ())]) for m in ("score.mean", "score.null_rate", "score.p50"))
    assert len(points) == 5


def test_all_null_column_gives_count_zero_and_null_stats():
    df = pd.DataFrame({"score": [np.nan, np.nan], "name": [None, None], "tags": [None, None]})
    spec = {"columns": {"score": ["count", "mean", "std", "sum", "p50", "zero_rate"], "name": ["count", "topk:2", "other_share"],
                        "tags": ["count", "length_mean", "empty_rate"]}}  # fmt: skip
    points = by_key(compute_profile(df, spec, ts=TS))
    assert points[("score.count", ())] == points[("name.count", ())] == points[("tags.count", ())] == 0
    nulls = [
        "score.mean",
        "score.std",
        "score.sum",
        "score.p50",
        "score.zero_rate",
        "name.other_share",
        "tags.length_mean",
        "tags.empty_rate",
    ]
    assert all(math.isnan(points[(m, ())]) for m in nulls)
    assert not [m for m, _ in points if m == "name.topk_count"]


def test_nan_none_and_nat_are_all_nulls():
    df = pd.DataFrame(
        {
            "score": [1.0, np.nan, None],
            "name": ["a", None, np.nan],
            "when": pd.to_datetime(["2026-01-01", None, pd.NaT]),
        }
    )
    points = by_key(
        compute_profile(
            df, {"columns": {"score": ["null_count"], "name": ["null_count"], "when": ["null_count"]}}, ts=TS
        )
    )
    assert points[("score.null_count", ())] == points[("name.null_count", ())] == points[("when.null_count", ())] == 2


def test_arrow_nan_is_null_too():
    table = pa.table({"score": pa.array([1.0, float("nan"), None, 3.0])})
    points = by_key(compute_profile(table, {"columns": {"score": ["count", "mean", "null_rate"]}}, ts=TS))
    assert (points[("score.count", ())], points[("score.mean", ())], points[("score.null_rate", ())]) == (2, 2.0, 0.5)


def test_naive_datetimes_are_utc_and_lag_is_seconds_before_the_partition_time():
    df = pd.DataFrame({"when": pd.to_datetime(["2026-01-09T00:00:00", "2026-01-09T12:00:00"])})
    points = by_key(compute_profile(df, {"columns": {"when": ["max", "lag"]}}, ts=TS))
    assert points[("when.max", ())] == pd.Timestamp("2026-01-09T12:00:00Z").timestamp()
    assert points[("when.lag", ())] == 12 * 3600


def test_without_group_by_only_the_overall_group_is_emitted():
    df = pd.DataFrame({"region": ["JP", "US"], "score": [1.0, 2.0]})
    points = compute_profile(df, {"columns": {"score": ["mean"]}}, ts=TS)
    assert points["labels"].tolist() == [{}, {}]


def test_several_group_by_columns_group_by_their_combination():
    df = pd.DataFrame({"region": ["JP", "JP", "US"], "device": ["ios", "web", None], "score": [1.0, 2.0, 4.0]})
    points = by_key(compute_profile(df, {"group_by": ["region", "device"], "columns": {"score": ["sum"]}}, ts=TS))
    assert points == {
        ("rows.count", ()): 3, ("score.sum", ()): 7.0,
        ("rows.count", (("device", "ios"), ("region", "JP"))): 1, ("score.sum", (("device", "ios"), ("region", "JP"))): 1.0,
        ("rows.count", (("device", "web"), ("region", "JP"))): 1, ("score.sum", (("device", "web"), ("region", "JP"))): 2.0,
        ("rows.count", (("device", NULL_LABEL), ("region", "US"))): 1,
        ("score.sum", (("device", NULL_LABEL), ("region", "US"))): 4.0,
    }  # fmt: skip


def test_numeric_group_by_values_are_labelled_as_text():
    df = pd.DataFrame({"bucket": [1, 1, 2], "score": [1.0, 2.0, 4.0]})
    points = by_key(compute_profile(df, {"group_by": ["bucket"], "columns": {"score": ["mean"]}}, ts=TS))
    assert points[("score.mean", (("bucket", "1"),))] == 1.5


def test_filter_keeps_only_matching_rows():
    df = pd.DataFrame({"score": [1.0, 2.0, 3.0, 4.0]})
    points = by_key(compute_profile(df, {"columns": {"score": ["mean"]}, "filter": "score >= 2"}, ts=TS))
    assert (points[("rows.count", ())], points[("score.mean", ())]) == (3, 3.0)


def test_seeded_sample_is_reproducible_and_shared_by_stats_and_topk():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"name": rng.choice(list("abcdef"), 20_000)})
    spec = {"columns": {"name": ["count", "topk:6"]}, "sample": {"fraction": 0.1, "seed": 11}}
    first, second = by_key(compute_profile(df, spec, ts=TS)), by_key(compute_profile(df, spec, ts=TS))
    assert first == second
    assert 1_500 < first[("rows.count", ())] < 2_500
    topk_total = sum(v for (m, _), v in first.items() if m == "name.topk_count")
    assert topk_total == first[("name.count", ())]


def test_long_and_control_character_values_become_storable_labels():
    df = pd.DataFrame({"name": ["x" * 300, "tab\there"]})
    points = compute_profile(df, {"columns": {"name": ["topk:2"]}}, ts=TS, datasource="ds")
    values = {p["value"] for p in points["labels"] if "value" in p}
    assert values == {"x" * 255 + "…", "tab\ufffdhere"}


def test_points_carry_the_partition_timestamp_in_utc():
    df = pd.DataFrame({"score": [1.0]})
    points = compute_profile(df, {"columns": {"score": ["mean"]}}, ts="2026-01-10T09:00:00+09:00")
    assert (points["ts"] == pd.Timestamp("2026-01-10T00:00:00Z")).all()


def test_datasource_gives_validated_points_with_series_ids():
    df = pd.DataFrame({"score": [1.0]})
    points = compute_profile(df, ProfileSpec(columns={"score": ["mean"]}), ts=TS, datasource="service1-recommend")
    assert points["series_id"].str.len().eq(16).all()


def test_input_that_is_not_a_table_is_rejected():
    from lupus_metrics.errors import LupusValidationError

    with pytest.raises(LupusValidationError, match="df: must be a pandas DataFrame"):
        compute_profile([1, 2], {"columns": {}}, ts=TS)


def test_stats_taken_from_value_counts_equal_the_streaming_ones():
    # A column with a quantile or a distinct count has its count, sum, mean, std, min and max computed from its
    # counts of distinct values (and a string's distinct count from its top-k counts): the same values as alone.
    rng = np.random.default_rng(5)
    n = 2000
    df = pd.DataFrame(
        {
            "region": rng.choice(np.array(["JP", "US", None], dtype=object), n),
            "score": np.where(rng.random(n) < 0.1, np.nan, np.round(rng.normal(5.0, 3.0, n), 2)),
            "visits": pd.array(rng.integers(-3, 1000, n), dtype="Int64"),
            "seen": pd.Series(pd.Timestamp("2026-01-09", tz="UTC") - pd.to_timedelta(rng.integers(0, 9, n), unit="D")),
            "name": rng.choice(np.array(["a", "b", "", None], dtype=object), n),
        }
    )
    df.loc[df["region"] == "US", "score"] = np.nan  # a group without values
    streaming = {"score": ["count", "sum", "mean", "std", "min", "max"], "visits": ["count", "sum", "mean", "std"],
                 "seen": ["count", "min", "max", "lag"], "name": ["count"]}  # fmt: skip
    counted = {"score": ["p50", "distinct_count"], "visits": ["p10"], "seen": ["distinct_count"], "name": ["distinct_count", "topk:2"]}  # fmt: skip
    alone = by_key(compute_profile(df, {"group_by": ["region"], "columns": streaming}, ts=TS))
    spec = {"group_by": ["region"], "columns": {c: streaming[c] + counted[c] for c in streaming}}
    together = by_key(compute_profile(df, spec, ts=TS))
    assert set(alone) <= set(together)
    for key, value in alone.items():
        if math.isnan(value):
            assert math.isnan(together[key]), key
        else:
            assert together[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    assert math.isnan(together[("score.mean", (("region", "US"),))])
    assert together[("score.count", (("region", "US"),))] == 0
