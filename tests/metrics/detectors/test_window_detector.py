import numpy as np
import pandas as pd
import pytest
from metrics.detectors.synthetic_series import daily, noisy, weekly
from pydantic import ValidationError

from lupus_metrics.detectors import WindowDetector
from lupus_metrics.detectors.noise import SeriesInfo
from lupus_metrics.errors import LupusValidationError


def flagged(out: pd.DataFrame) -> list[int]:
    return np.flatnonzero(out["is_anomaly"].to_numpy()).tolist()


@pytest.mark.parametrize("method", ["zscore", "mad"])
def test_an_injected_spike_and_dip_are_the_only_anomalies(method):
    values = noisy(120)
    values[50] += 15
    values[90] -= 15
    out = WindowDetector(window=14, method=method, threshold=5).detect(daily(values))
    assert flagged(out) == [50, 90]


def test_direction_up_ignores_dips():
    values = noisy(120)
    values[50] += 15
    values[90] -= 15
    assert flagged(WindowDetector(direction="up", threshold=5).detect(daily(values))) == [50]


def test_direction_down_ignores_spikes():
    values = noisy(120)
    values[50] += 15
    values[90] -= 15
    assert flagged(WindowDetector(direction="down", threshold=5).detect(daily(values))) == [90]


def test_the_band_is_the_baseline_of_previous_points_only():
    out = WindowDetector(window=3).detect(daily([1.0, 2.0, 3.0, 100.0]))
    assert out["expected"].iloc[3] == 2.0
    assert out["upper"].iloc[3] == pytest.approx(2.0 + 3 * 1.0)
    assert out["score"].iloc[3] == pytest.approx(98.0)


def test_points_with_too_little_history_are_not_judged():
    out = WindowDetector(window=7, min_history=5).detect(daily(noisy(10)))
    assert out["expected"].iloc[:5].isna().all()
    assert out["expected"].iloc[5:].notna().all()


def test_a_constant_series_has_no_anomalies():
    out = WindowDetector(window=7).detect(daily(np.full(30, 5.0)))
    assert not out["is_anomaly"].any()


def test_a_change_after_a_constant_history_is_an_anomaly_with_a_finite_score():
    values = np.full(30, 5.0)
    values[20] = 5.5
    out = WindowDetector(window=7).detect(daily(values))
    assert flagged(out) == [20]
    assert np.isfinite(out["score"]).sum() == out["score"].notna().sum()


def test_missing_values_are_not_judged_and_do_not_break_later_baselines():
    values = noisy(60)
    values[30:33] = np.nan
    values[40] += 15
    out = WindowDetector(window=14, min_history=10, threshold=5).detect(daily(values))
    assert out["score"].iloc[30:33].isna().all()
    assert flagged(out) == [40]


def test_a_flagged_outlier_does_not_poison_later_baselines():
    values = noisy(60)
    values[40] += 100  # would inflate the standard deviation of the next 14 baselines
    values[45] -= 8
    for method in ("zscore", "mad"):
        out = WindowDetector(window=14, method=method, threshold=4).detect(daily(values))
        assert flagged(out) == [40, 45], method
        assert out["upper"].iloc[46] - out["lower"].iloc[46] < 20, method


def test_an_excluded_point_leaves_later_baselines():
    values = noisy(60)
    values[40] += 3.5  # under the threshold, yet a broken day (its check failed)
    excluded = np.zeros(60, dtype=bool)
    excluded[40] = True
    with_it = WindowDetector(window=14, threshold=4).detect(daily(values))
    without = WindowDetector(window=14, threshold=4).detect(daily(values), info=SeriesInfo(excluded=excluded))
    assert without["expected"].iloc[41] < with_it["expected"].iloc[41]
    assert without["expected"].iloc[40] == with_it["expected"].iloc[40]  # judged as before


def test_a_window_given_as_a_duration_counts_the_series_steps():
    hourly = pd.Series(noisy(24 * 10), index=pd.date_range("2025-01-06", periods=240, freq="h", tz="UTC"))
    assert WindowDetector(window="6h").points_of(hourly) == (6, 6)
    assert WindowDetector(window="2d", min_history="1d").points_of(hourly) == (48, 24)
    assert WindowDetector(window="14d").points_of(daily(noisy(30))) == (14, 14)
    out = WindowDetector(window="6h").detect(hourly)
    assert out["expected"].iloc[:6].isna().all() and out["expected"].iloc[6:].notna().all()


def test_a_duration_needs_timestamps():
    with pytest.raises(LupusValidationError, match="duration"):
        WindowDetector(window="14d").detect(pd.Series(noisy(30)))


@pytest.mark.parametrize("window", ["14 days", "0d", "-3h", 1])
def test_a_malformed_window_is_rejected(window):
    with pytest.raises(ValidationError, match="window"):
        WindowDetector(window=window)


@pytest.mark.parametrize("method", ["zscore", "mad"])
def test_a_stepped_metric_gets_a_spread_instead_of_division_by_zero(method):
    values = np.repeat([5.0, 6.0, 6.0, 7.0, 7.0, 7.0, 8.0, 8.0], 15)  # MAD 0 in most windows
    values[100] += 0.5
    out = WindowDetector(window=14, method=method, threshold=4).detect(daily(values))
    assert out["score"].abs().max() < 1e5
    assert (out["upper"] - out["lower"]).min() > 0


def test_the_stderr_floors_the_spread():
    values = 0.3 + np.tile([0.001, -0.001], 30)  # a rate measured on few users: noisy, but the window is calm
    values[50] = 0.32
    calm = WindowDetector(window=14, threshold=4).detect(daily(values))
    noisy_rate = WindowDetector(window=14, threshold=4).detect(daily(values), info=SeriesInfo(stderr=np.full(60, 0.01)))
    assert flagged(calm) == [50] and flagged(noisy_rate) == []
    assert noisy_rate["upper"].iloc[50] - noisy_rate["expected"].iloc[50] == pytest.approx(0.04)


def test_min_delta_is_the_smallest_deviation_that_may_alert():
    values = noisy(60, noise=0.1)
    values[50] += 2.0
    out = WindowDetector(window=14, threshold=4, min_delta=3.0).detect(daily(values))
    assert flagged(out) == []
    assert out["upper"].iloc[50] - out["expected"].iloc[50] == pytest.approx(3.0)


def test_same_weekday_baseline_catches_a_weekend_at_weekday_level():
    values = weekly(140, weekend=30)
    saturday = 124  # 124 % 7 == 5
    values[saturday] -= 30
    plain = WindowDetector(window=14, threshold=4).detect(daily(values))
    by_weekday = WindowDetector(window=10, min_history=6, same_weekday=True, threshold=6).detect(daily(values))
    assert saturday not in flagged(plain)
    assert flagged(by_weekday) == [saturday]


def test_same_weekday_on_a_positional_series_uses_the_period():
    values = weekly(140, weekend=30)
    values[124] -= 30
    out = WindowDetector(window=10, min_history=6, same_weekday=True, threshold=6).detect(pd.Series(values), period=7)
    assert flagged(out) == [124]


def test_same_weekday_on_a_positional_series_without_period_names_the_parameter():
    with pytest.raises(LupusValidationError, match="same_weekday"):
        WindowDetector(same_weekday=True).detect(pd.Series(noisy(30)))


def test_a_single_point_is_not_judged():
    out = WindowDetector().detect(daily([3.0]))
    assert len(out) == 1 and not out["is_anomaly"].iloc[0] and np.isnan(out["score"].iloc[0])


def test_a_window_below_two_is_rejected_by_name():
    with pytest.raises(ValidationError, match="window"):
        WindowDetector(window=1)


def test_min_history_above_window_is_rejected():
    with pytest.raises(ValidationError, match=r"min_history \(20\) must not exceed window \(14\)"):
        WindowDetector(window=14, min_history=20)


def test_an_unknown_method_is_rejected_by_name():
    with pytest.raises(ValidationError, match="method"):
        WindowDetector(method="iqr")


def test_a_level_shift_alerts_at_first_then_becomes_the_baseline():
    values = noisy(120)
    values[60:] += 20
    out = WindowDetector(window=14, threshold=5).detect(daily(values))
    assert out["is_anomaly"].iloc[60]
    assert not out["is_anomaly"].iloc[90:].any()


def test_a_steady_trend_does_not_alert():
    values = noisy(200) + 0.1 * np.arange(200)
    assert flagged(WindowDetector(window=14, threshold=5).detect(daily(values))) == []


@pytest.mark.parametrize(
    "options",
    [{"method": "zscore"}, {"method": "mad"}, {"method": "mad", "same_weekday": True, "window": 4, "min_history": 2}],
)
def test_judging_many_series_at_once_equals_judging_each(options):
    # The batched path concatenates series; no baseline may reach into a neighbouring series.
    rng = np.random.default_rng(3)
    series = [daily(rng.normal(100 * (k + 1), 5, size)) for k, size in enumerate([40, 1, 3000, 75, 15])]
    series[3].iloc[[5, 20, 21]] = np.nan
    detector = WindowDetector(**options)
    together = detector.judge_many(series)
    for s, verdict in zip(series, together, strict=True):
        alone = detector.detect(s)
        pd.testing.assert_frame_equal(verdict.frame(s.index), alone)
        assert verdict.frame(s.index)["expected"].notna().any() == (len(s) > (options.get("min_history") or 14))


def test_judging_many_positional_series_uses_the_period_within_each_series():
    series = [pd.Series(weekly(28, weekend=30.0)), pd.Series(weekly(21, weekend=50.0))]
    detector = WindowDetector(window=2, same_weekday=True)
    together = detector.judge_many(series, period=7)
    for s, verdict in zip(series, together, strict=True):
        pd.testing.assert_frame_equal(verdict.frame(s.index), detector.detect(s, period=7))
