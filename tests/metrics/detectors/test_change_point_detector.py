import numpy as np
import pandas as pd
import pytest
from metrics.detectors.synthetic_series import daily, noisy, trend, weekly
from pydantic import ValidationError

from lupus_metrics.detectors import ChangePointDetector


def flagged(out: pd.DataFrame) -> list[int]:
    return np.flatnonzero(out["is_anomaly"].to_numpy()).tolist()


def level_shift(n: int = 200, at: int = 120, by: float = 4.0) -> np.ndarray:
    values = noisy(n)
    values[at:] += by
    return values


def test_a_level_shift_is_flagged_on_the_first_point_of_the_new_regime_only():
    assert flagged(ChangePointDetector().detect(daily(level_shift(at=120)))) == [120]


def test_expected_is_the_mean_of_each_regime():
    out = ChangePointDetector().detect(daily(level_shift(at=120, by=4.0)))
    assert out["expected"].iloc[0] == pytest.approx(100, abs=0.3)
    assert out["expected"].iloc[-1] == pytest.approx(104, abs=0.3)


def test_the_score_of_a_change_is_the_shift_in_noise_deviations():
    out = ChangePointDetector().detect(daily(level_shift(at=120, by=4.0)))
    assert out["score"].iloc[120] == pytest.approx(4.0, abs=0.8)
    assert (out["score"].drop(out.index[120]) == 0).all()


def test_the_detector_has_no_band():
    out = ChangePointDetector().detect(daily(level_shift()))
    assert out["lower"].isna().all() and out["upper"].isna().all()


def test_a_trend_break_is_flagged_near_where_the_slope_changes():
    values = trend(300, slope=0.0)
    values[180:] += 0.2 * np.arange(120)
    out = ChangePointDetector(shift="trend").detect(daily(values))
    [where] = flagged(out)
    assert abs(where - 180) <= 10


def test_a_steady_trend_is_not_a_change():
    assert flagged(ChangePointDetector(shift="trend").detect(daily(trend(300, slope=0.5)))) == []


def test_noise_alone_has_no_change_points():
    for seed in range(5):
        assert flagged(ChangePointDetector().detect(daily(noisy(365, seed=seed)))) == []


def test_weekly_seasonality_alone_is_not_a_level_shift():
    assert flagged(ChangePointDetector().detect(daily(weekly(365, weekend=5)))) == []


def test_direction_up_ignores_a_downward_shift():
    assert flagged(ChangePointDetector(direction="up").detect(daily(level_shift(by=-4.0)))) == []


def test_a_constant_series_has_no_change_points():
    out = ChangePointDetector().detect(daily(np.full(50, 3.0)))
    assert flagged(out) == [] and (out["score"] == 0).all()


def test_a_step_between_constant_levels_is_flagged_with_a_finite_score():
    out = ChangePointDetector().detect(daily(np.r_[np.full(30, 3.0), np.full(30, 4.0)]))
    assert flagged(out) == [30]
    assert np.isfinite(out["score"].iloc[30])


def test_missing_values_are_not_judged_and_do_not_hide_the_change():
    values = level_shift(at=120)
    values[60:70] = np.nan
    out = ChangePointDetector().detect(daily(values))
    assert out["score"].iloc[60:70].isna().all()
    assert flagged(out) == [120]


def test_fewer_points_than_two_regimes_have_no_change_points():
    out = ChangePointDetector(min_size=7).detect(daily([1.0] * 6 + [9.0] * 6))
    assert flagged(out) == []


def test_a_single_point_is_judged_without_a_change():
    out = ChangePointDetector().detect(daily([2.0]))
    assert out["expected"].tolist() == [2.0] and flagged(out) == []


def test_min_score_drops_small_changes():
    assert flagged(ChangePointDetector(min_score=10).detect(daily(level_shift(by=4.0)))) == []


def test_an_unknown_shift_is_rejected_by_name():
    with pytest.raises(ValidationError, match="shift"):
        ChangePointDetector(shift="variance")


def test_a_single_spike_is_not_a_change_point():
    values = noisy(200)
    values[100] += 30
    assert flagged(ChangePointDetector().detect(daily(values))) == []


def test_a_stepped_metric_gets_a_noise_level_instead_of_zero():
    # A quantized metric: most days repeat yesterday's value (MAD of first differences 0), now and then
    # it flickers by one unit; that flicker is its noise, not a change.
    rng = np.random.default_rng(6)
    values = np.round(100 + rng.normal(0, 0.4, 200))
    values[120:] += 5  # one lasting change
    out = ChangePointDetector(min_size=7).detect(daily(values))
    changes = np.flatnonzero(out["is_anomaly"].to_numpy()).tolist()
    assert 120 in changes and len(changes) <= 8
    assert out["score"].abs().idxmax() == out.index[120] and out["score"].abs().max() < 1e4


def test_a_flat_series_with_one_change_gets_a_finite_score():
    values = np.r_[np.full(30, 5.0), np.full(30, 6.0)]
    out = ChangePointDetector(min_size=7).detect(daily(values))
    assert np.flatnonzero(out["is_anomaly"].to_numpy()).tolist() == [30]
    assert 1 < out["score"].iloc[30] < 1e6
