import numpy as np
import pandas as pd
import pytest
from metrics.detectors.synthetic_series import daily, noisy, weekly
from pydantic import ValidationError

from lupus_metrics.detectors import WindowDetector
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


def test_mad_baseline_is_robust_to_an_earlier_outlier():
    values = noisy(60)
    values[40] += 100  # inflates the standard deviation of the next 14 baselines
    values[45] -= 8
    zscore = WindowDetector(window=14, method="zscore", threshold=4).detect(daily(values))
    mad = WindowDetector(window=14, method="mad", threshold=4).detect(daily(values))
    assert 45 not in flagged(zscore)
    assert 45 in flagged(mad)


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
