"""Seasonal Hybrid ESD: the R package's own test suite (tests/testthat/test-ts.R, test-vec.R,
test-NAs.R, test-edge.R of twitter/AnomalyDetection) and Lupus's interface rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import stats

from lupus_metrics.detectors.base import RESULT_COLUMNS
from lupus_metrics.detectors.esd_test import hybrid_esd
from lupus_metrics.detectors.seasonal_esd import SeasonalHybridESD
from lupus_metrics.detectors.stl import stl_periodic_robust
from lupus_metrics.errors import LupusValidationError


@pytest.fixture(scope="module")
def raw_data(datasets_dir) -> pd.Series:
    """R's ``raw_data``: 14,398 minutely counts indexed by timestamp."""
    frame = pd.read_csv(datasets_dir / "twitter_raw_data.csv", parse_dates=["timestamp"])
    return frame.set_index("timestamp")["count"]


@pytest.fixture(scope="module")
def raw_vector(raw_data) -> pd.Series:
    """``raw_data[[2]]``: the same counts by position."""
    return pd.Series(raw_data.to_numpy())


@pytest.fixture(scope="module")
def hourly_data(datasets_dir) -> pd.Series:
    """R's ``inst/extdata/data.csv``: hourly values, with midnight timestamps."""
    frame = pd.read_csv(datasets_dir / "twitter_extdata_hourly.csv", parse_dates=["date"])
    return frame.set_index("date")["value"]


@pytest.fixture(scope="module")
def both_on_raw(raw_data) -> pd.DataFrame:
    """R's README call: ``AnomalyDetectionTs(raw_data, max_anoms=0.02, direction='both')``."""
    return SeasonalHybridESD(max_anoms=0.02, direction="both").detect(raw_data)


def anomaly_count(result: pd.DataFrame) -> int:
    return int(result["is_anomaly"].sum())


def daily(values: np.ndarray) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2026-01-01", periods=len(values), freq="D"))


def weekly_pattern(weeks: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.tile([100.0, 120.0, 130.0, 125.0, 110.0, 60.0, 50.0], weeks) + rng.normal(0, 2, 7 * weeks)


# --- test-ts.R -------------------------------------------------------------------------


def test_r_ts_last_day_both_directions_finds_25(raw_data):
    result = SeasonalHybridESD(max_anoms=0.02, direction="both", only_last="day").detect(raw_data)
    assert anomaly_count(result) == 25


def test_r_ts_both_directions_longterm_finds_131_each_with_expected_value(raw_data):
    result = SeasonalHybridESD(max_anoms=0.02, direction="both", longterm=True).detect(raw_data)
    assert anomaly_count(result) == 131
    assert result.loc[result["is_anomaly"], "expected"].notna().all()


def test_r_ts_threshold_med_max_finds_4(raw_data):
    result = SeasonalHybridESD(max_anoms=0.02, direction="both", threshold="med_max").detect(raw_data)
    assert anomaly_count(result) == 4


# --- test-vec.R ------------------------------------------------------------------------


def test_r_vec_last_period_both_directions_finds_25(raw_vector):
    result = SeasonalHybridESD(max_anoms=0.02, direction="both", only_last=True).detect(raw_vector, period=1440)
    assert anomaly_count(result) == 25


def test_r_vec_longterm_period_of_two_weeks_finds_131(raw_vector):
    detector = SeasonalHybridESD(max_anoms=0.02, direction="both", longterm_period=1440 * 14)
    assert anomaly_count(detector.detect(raw_vector, period=1440)) == 131


def test_r_vec_threshold_med_max_finds_6(raw_vector):
    result = SeasonalHybridESD(max_anoms=0.02, direction="both", threshold="med_max").detect(raw_vector, period=1440)
    assert anomaly_count(result) == 6


# --- test-NAs.R ------------------------------------------------------------------------


def with_end_nans(series: pd.Series) -> pd.Series:
    gapped = series.copy()
    gapped.iloc[:10] = np.nan
    gapped.iloc[-1] = np.nan
    return gapped


def with_middle_nan(series: pd.Series) -> pd.Series:
    gapped = series.copy()
    gapped.iloc[len(gapped) // 2 - 1] = np.nan  # R: raw_data[floor(n/2), ] (1-based)
    return gapped


def test_r_nas_leading_and_trailing_nans_are_dropped_ts(raw_data):
    result = SeasonalHybridESD(max_anoms=0.02, direction="both").detect(with_end_nans(raw_data))
    assert anomaly_count(result) == 131
    assert result["expected"].iloc[:10].isna().all()


def test_r_nas_nan_in_the_middle_is_rejected_with_r_message_ts(raw_data):
    with pytest.raises(LupusValidationError, match="Data contains non-leading NAs"):
        SeasonalHybridESD(max_anoms=0.02, direction="both").detect(with_middle_nan(raw_data))


def test_r_nas_leading_and_trailing_nans_are_dropped_vec(raw_vector):
    result = SeasonalHybridESD(max_anoms=0.02, direction="both").detect(with_end_nans(raw_vector), period=1440)
    assert anomaly_count(result) == 131


def test_r_nas_nan_in_the_middle_is_rejected_with_r_message_vec(raw_vector):
    with pytest.raises(LupusValidationError, match="Data contains non-leading NAs"):
        SeasonalHybridESD(max_anoms=0.02, direction="both").detect(with_middle_nan(raw_vector), period=1440)


# --- test-edge.R -----------------------------------------------------------------------


def test_r_edge_constant_series_runs_and_flags_nothing():
    result = SeasonalHybridESD(direction="both").detect(pd.Series(np.ones(1000)), period=14)
    assert anomaly_count(result) == 0


def test_r_edge_midnight_hourly_data_gives_an_expected_value_per_anomaly(hourly_data):
    detector = SeasonalHybridESD(max_anoms=0.2, threshold="None", direction="both", only_last="day")
    result = detector.detect(hourly_data)
    anomalies = result[result["is_anomaly"]]
    assert len(anomalies) > 0
    assert anomalies["expected"].notna().all()


# --- R's README example ----------------------------------------------------------------


def test_r_readme_both_directions_finds_131(both_on_raw):
    assert anomaly_count(both_on_raw) == 131


# --- behaviour -------------------------------------------------------------------------


def test_result_has_the_interface_columns_and_input_index(raw_data, both_on_raw):
    result = both_on_raw
    assert tuple(result.columns) == RESULT_COLUMNS
    assert result.index.equals(raw_data.index)
    assert result["lower"].isna().all() and result["upper"].isna().all()


def test_expected_is_truncated_trend_plus_seasonal():
    values = weekly_pattern(10)
    parts = stl_periodic_robust(values, 7)
    result = SeasonalHybridESD().detect(daily(values))
    np.testing.assert_array_equal(result["expected"].to_numpy(), np.trunc(parts.trend + parts.seasonal))


def test_score_is_set_for_exactly_the_tested_points():
    values = weekly_pattern(20)
    result = SeasonalHybridESD(max_anoms=0.1).detect(daily(values))
    assert result["score"].notna().sum() == int(len(values) * 0.1)
    assert result.loc[result["is_anomaly"], "score"].notna().all()


def test_daily_data_uses_a_weekly_period_and_finds_a_spike():
    values = weekly_pattern(8)
    values[30] += 60
    result = SeasonalHybridESD().detect(daily(values))
    assert result.index[result["is_anomaly"]].tolist() == [daily(values).index[30]]


def test_pos_ignores_dips_and_neg_ignores_spikes():
    values = weekly_pattern(8)
    values[20] += 60
    values[40] -= 60
    series = daily(values)
    spikes = SeasonalHybridESD(direction="pos").detect(series)
    dips = SeasonalHybridESD(direction="neg").detect(series)
    both = SeasonalHybridESD(direction="both").detect(series)
    assert np.flatnonzero(spikes["is_anomaly"]).tolist() == [20]
    assert np.flatnonzero(dips["is_anomaly"]).tolist() == [40]
    assert np.flatnonzero(both["is_anomaly"]).tolist() == [20, 40]


def test_only_last_hr_on_daily_data_means_the_last_day():
    values = weekly_pattern(8)
    values[-1] += 60
    values[-2] += 60
    result = SeasonalHybridESD(only_last="hr").detect(daily(values))
    assert np.flatnonzero(result["is_anomaly"]).tolist() == [len(values) - 1]


def test_only_last_hr_keeps_only_the_last_hour(raw_data, both_on_raw):
    last_hour = raw_data.index > raw_data.index[-1] - pd.Timedelta(hours=1)
    result = SeasonalHybridESD(max_anoms=0.02, direction="both", only_last="hr").detect(raw_data)
    assert result["is_anomaly"].any()
    assert result["is_anomaly"].tolist() == (both_on_raw["is_anomaly"] & last_hour).tolist()


def test_only_last_keeps_expected_values_outside_the_last_day(raw_data, both_on_raw):
    result = SeasonalHybridESD(max_anoms=0.02, direction="both", only_last="day").detect(raw_data)
    assert result["expected"].notna().all()
    np.testing.assert_array_equal(result["expected"].to_numpy(), both_on_raw["expected"].to_numpy())


def test_max_anoms_below_one_point_still_tests_one_point():
    values = weekly_pattern(8)
    values[30] += 60
    result = SeasonalHybridESD(max_anoms=0.0).detect(daily(values))
    assert result["score"].notna().sum() == 1
    assert np.flatnonzero(result["is_anomaly"]).tolist() == [30]


def test_only_last_true_keeps_only_the_last_period_of_positional_input():
    values = weekly_pattern(8)
    values[[10, 52, 54]] += 60
    everything = SeasonalHybridESD().detect(pd.Series(values), period=7)
    last = SeasonalHybridESD(only_last=True).detect(pd.Series(values), period=7)
    assert np.flatnonzero(everything["is_anomaly"]).tolist() == [10, 52, 54]
    assert np.flatnonzero(last["is_anomaly"]).tolist() == [52, 54]


def test_timezone_aware_timestamps_give_the_same_result_as_utc_naive():
    values = weekly_pattern(8)
    values[30] += 60
    naive = SeasonalHybridESD().detect(daily(values))
    aware = SeasonalHybridESD().detect(daily(values).tz_localize("UTC").tz_convert("Asia/Tokyo"))
    np.testing.assert_array_equal(aware["is_anomaly"].to_numpy(), naive["is_anomaly"].to_numpy())
    np.testing.assert_array_equal(aware["expected"].to_numpy(), naive["expected"].to_numpy())


def test_percentile_thresholds_are_nested(raw_data, both_on_raw):
    def flagged(threshold):
        result = SeasonalHybridESD(max_anoms=0.02, direction="both", threshold=threshold).detect(raw_data)
        return set(np.flatnonzero(result["is_anomaly"]))

    none = set(np.flatnonzero(both_on_raw["is_anomaly"]))
    med_max, p95, p99 = flagged("med_max"), flagged("p95"), flagged("p99")
    assert p99 <= p95 <= med_max <= none
    assert len(p95) < len(none)


def test_threshold_keeps_only_anomalies_at_or_above_the_daily_maxima_median(raw_data):
    result = SeasonalHybridESD(max_anoms=0.02, direction="both", threshold="med_max").detect(raw_data)
    threshold = raw_data.groupby(raw_data.index.date).max().median()
    assert (result.loc[result["is_anomaly"], "value"] >= threshold).all()


def test_second_level_data_is_summed_per_minute():
    minutes = pd.date_range("2026-01-01", periods=3 * 1440, freq="min")
    rng = np.random.default_rng(5)
    per_minute = 100 + 20 * np.sin(np.arange(len(minutes)) * 2 * np.pi / 1440) + rng.normal(0, 1, len(minutes))
    per_minute[2000] += 80
    seconds = minutes.repeat(3) + pd.to_timedelta(np.tile([0, 20, 40], len(minutes)), unit="s")
    by_second = pd.Series(np.repeat(per_minute / 3, 3), index=seconds)
    minute_result = SeasonalHybridESD().detect(pd.Series(per_minute, index=minutes))
    second_result = SeasonalHybridESD().detect(by_second)
    assert second_result.index.equals(by_second.index)
    assert (
        second_result["is_anomaly"].to_numpy().tolist() == np.repeat(minute_result["is_anomaly"].to_numpy(), 3).tolist()
    )
    assert second_result["is_anomaly"].iloc[6000:6003].all()


def test_longterm_period_splits_positional_input_into_stretches():
    # A level shift defeats one global decomposition; stretches follow it.
    values = np.concatenate([weekly_pattern(8, seed=1), weekly_pattern(8, seed=2) + 500])
    values[20] += 40
    values[90] += 40
    found = SeasonalHybridESD(longterm_period=56).detect(pd.Series(values), period=7)
    assert np.flatnonzero(found["is_anomaly"]).tolist() == [20, 90]


# --- the fast ESD equals R's recomputation ---------------------------------------------


def esd_by_recomputation(x: np.ndarray, steps: int, alpha: float, direction: str) -> tuple[list[int], int]:
    """R's loop: recompute median and MAD after every removal (the specification)."""
    alive = list(range(len(x)))
    n = len(x)
    removed, num_anoms = [], 0
    for i in range(1, steps + 1):
        data = x[alive]
        median = np.median(data)
        sigma = 1.4826 * np.median(np.abs(data - median))
        if not sigma > 0:
            break
        deviation = {"pos": data - median, "neg": median - data, "both": np.abs(data - median)}[direction] / sigma
        position = int(np.flatnonzero(deviation == deviation.max())[0])
        removed.append(alive.pop(position))
        tail = alpha / (n - i + 1) if direction != "both" else alpha / (2 * (n - i + 1))
        t = stats.t.ppf(1 - tail, n - i - 1)
        if deviation.max() > t * (n - i) / np.sqrt((n - i - 1 + t**2) * (n - i + 1)):
            num_anoms = i
    return removed, num_anoms


@pytest.mark.parametrize("direction", ["pos", "neg", "both"])
@pytest.mark.parametrize("kind", ["normal", "ties", "outliers"])
def test_sorted_esd_removes_the_same_points_as_recomputation(direction, kind):
    rng = np.random.default_rng(11)
    for _ in range(30):
        n = int(rng.integers(8, 200))
        x = {
            "normal": rng.normal(size=n),
            "ties": rng.integers(0, 4, size=n).astype(float),
            "outliers": rng.normal(size=n) + np.where(rng.random(n) < 0.05, rng.normal(0, 15, n), 0.0),
        }[kind]
        steps = int(n * 0.3)
        fast = hybrid_esd(x, steps, 0.05, direction)
        removed, num_anoms = esd_by_recomputation(x, steps, 0.05, direction)
        assert fast.tested.tolist() == removed
        assert fast.num_anoms == num_anoms


# --- input rules -----------------------------------------------------------------------


def test_fewer_than_two_periods_is_rejected_with_r_message():
    with pytest.raises(LupusValidationError, match="Anom detection needs at least 2 periods worth of data"):
        SeasonalHybridESD().detect(daily(weekly_pattern(1)))


def test_exactly_two_periods_is_rejected_by_stl():
    with pytest.raises(LupusValidationError, match="less than two periods"):
        SeasonalHybridESD().detect(pd.Series(weekly_pattern(2)), period=7)


def test_positional_input_needs_a_period():
    with pytest.raises(LupusValidationError, match="period: is required"):
        SeasonalHybridESD().detect(pd.Series(weekly_pattern(4)))


def test_period_must_be_at_least_two():
    with pytest.raises(LupusValidationError, match="period: must be an integer >= 2"):
        SeasonalHybridESD().detect(pd.Series(weekly_pattern(4)), period=1)


def test_timestamped_input_rejects_a_conflicting_period():
    with pytest.raises(LupusValidationError, match="period: is derived from the timestamps"):
        SeasonalHybridESD().detect(daily(weekly_pattern(4)), period=24)


def test_timestamped_input_accepts_the_matching_period():
    assert len(SeasonalHybridESD().detect(daily(weekly_pattern(4)), period=7)) == 28


def test_sub_second_timestamps_are_rejected():
    index = pd.date_range("2026-01-01", periods=100, freq="100ms")
    with pytest.raises(LupusValidationError, match="less than a second apart"):
        SeasonalHybridESD().detect(pd.Series(np.arange(100.0), index=index))


def test_unsorted_timestamps_are_rejected():
    series = daily(weekly_pattern(4)).iloc[::-1]
    with pytest.raises(LupusValidationError, match=r"series\.index: timestamps must be unique and sorted"):
        SeasonalHybridESD().detect(series)


def test_only_last_true_is_for_positional_input():
    with pytest.raises(LupusValidationError, match="only_last"):
        SeasonalHybridESD(only_last=True).detect(daily(weekly_pattern(4)))


def test_only_last_day_is_for_timestamped_input():
    with pytest.raises(LupusValidationError, match="only_last"):
        SeasonalHybridESD(only_last="day").detect(pd.Series(weekly_pattern(4)), period=7)


def test_longterm_is_for_timestamped_input():
    with pytest.raises(LupusValidationError, match="longterm: applies to timestamped input"):
        SeasonalHybridESD(longterm=True).detect(pd.Series(weekly_pattern(4)), period=7)


def test_longterm_period_is_for_positional_input():
    with pytest.raises(LupusValidationError, match="longterm_period: applies to positional input"):
        SeasonalHybridESD(longterm_period=28).detect(daily(weekly_pattern(4)))


def test_stretch_too_short_for_one_anomaly_is_rejected():
    detector = SeasonalHybridESD(max_anoms=0.0, longterm_period=40)
    with pytest.raises(LupusValidationError, match="max_anoms: allows no anomaly"):
        detector.detect(pd.Series(weekly_pattern(15)), period=4)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_anoms", 0.5),
        ("max_anoms", -0.1),
        ("direction", "up"),
        ("alpha", 0.0),
        ("only_last", "week"),
        ("threshold", "p90"),
        ("piecewise_median_period_weeks", 1),
        ("longterm_period", 0),
    ],
)
def test_invalid_parameters_are_rejected_naming_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        SeasonalHybridESD(**{field: value})


def test_threshold_accepts_r_spelling_of_none():
    assert SeasonalHybridESD(threshold="None").threshold is None


def test_kind_is_seasonal_esd():
    assert SeasonalHybridESD.kind == "seasonal_esd"


@pytest.mark.parametrize("n", [49, 1243, 1882])
def test_max_anoms_raised_to_one_point_survives_float_rounding(n):
    # R raises max_anoms below 1/n to 1/n; n * (1/n) is 0.9999999999999999 for these n, and a truncation
    # to int made "at most one anomaly" zero and raised.
    period = 7
    values = 100 + 10 * np.tile(np.arange(period), n // period + 1)[:n] + np.random.default_rng(n).normal(0, 1, n)
    values[n // 2] += 80
    out = SeasonalHybridESD(max_anoms=0.0001, direction="pos").detect(pd.Series(values), period=period)
    assert np.flatnonzero(out["is_anomaly"].to_numpy()).tolist() == [n // 2]
