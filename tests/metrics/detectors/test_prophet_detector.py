import numpy as np
import pandas as pd
import pytest
from metrics.detectors.synthetic_series import daily, noisy, trend, weekly
from pydantic import ValidationError

from lupus_metrics.detectors import ProphetDetector
from lupus_metrics.detectors.noise import SeriesInfo
from lupus_metrics.errors import LupusValidationError


def flagged(out: pd.DataFrame) -> list[int]:
    return np.flatnonzero(out["is_anomaly"].to_numpy()).tolist()


def test_in_sample_flags_an_injected_spike_and_dip_on_a_weekly_series():
    values = weekly(98, weekend=20)
    values[40] += 25
    values[70] -= 25
    out = ProphetDetector(yearly_seasonality=False).detect(daily(values))
    assert flagged(out) == [40, 70]


def test_expected_follows_the_weekly_seasonality():
    out = ProphetDetector(yearly_seasonality=False).detect(daily(weekly(56, weekend=20)))
    weekend = out.index.dayofweek >= 5
    gap = out["expected"][weekend].mean() - out["expected"][~weekend].mean()
    assert gap == pytest.approx(20, abs=2)


def test_next_step_judges_only_the_last_points_against_the_forecast():
    values = weekly(70, weekend=20)
    values[-1] -= 20  # a Sunday at weekday level: unremarkable overall, wrong for a Sunday
    out = ProphetDetector(mode="next_step", horizon=2, yearly_seasonality=False).detect(daily(values))
    assert out["score"].iloc[:-2].isna().all()
    assert flagged(out) == [69]


def test_next_step_forecast_extends_the_trend():
    out = ProphetDetector(mode="next_step", yearly_seasonality=False).detect(daily(trend(60, slope=1.0)))
    assert out["expected"].iloc[-1] == pytest.approx(159, abs=2)


def test_the_band_is_reproducible_with_the_same_seed():
    s = daily(weekly(42))
    first = ProphetDetector(seed=7).detect(s)
    second = ProphetDetector(seed=7).detect(s)
    pd.testing.assert_frame_equal(first, second)


def test_a_different_seed_draws_a_different_band():
    s = daily(weekly(42))
    assert not ProphetDetector(seed=1).detect(s)["upper"].equals(ProphetDetector(seed=2).detect(s)["upper"])


def test_detection_leaves_the_global_random_state_alone():
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    ProphetDetector().detect(daily(weekly(28)))
    assert np.random.random() == expected


def test_too_little_history_judges_nothing():
    out = ProphetDetector(min_history=14).detect(daily(noisy(10)))
    assert out["score"].isna().all() and not out["is_anomaly"].any()


def test_a_single_point_is_not_judged():
    out = ProphetDetector().detect(daily([5.0]))
    assert len(out) == 1 and np.isnan(out["score"].iloc[0])


def test_a_constant_series_has_no_anomalies():
    out = ProphetDetector().detect(daily(np.full(30, 5.0)))
    assert out["score"].notna().all()
    assert not out["is_anomaly"].any()


def test_missing_values_are_not_judged_and_the_rest_still_is():
    values = weekly(56)
    values[20:23] = np.nan
    values[40] += 30
    out = ProphetDetector(yearly_seasonality=False).detect(daily(values))
    assert out["score"].iloc[20:23].isna().all()
    assert flagged(out) == [40]


def test_a_positional_series_uses_the_given_period():
    values = weekly(70, weekend=20)
    values[-1] -= 20
    out = ProphetDetector(mode="next_step").detect(pd.Series(values), period=7)
    assert flagged(out) == [69]


def test_a_positional_series_without_period_names_the_parameter():
    with pytest.raises(LupusValidationError, match="period"):
        ProphetDetector().detect(pd.Series(noisy(30)))


def test_country_holidays_get_their_own_effect():
    days = pd.date_range("2024-01-01", "2025-12-31", freq="D", tz="UTC")
    values = noisy(len(days))
    new_year = (days.month == 1) & (days.day == 1)
    values[new_year] -= 30  # a known, expected drop on New Year's Day
    out = ProphetDetector(holidays_country="JP", yearly_seasonality=False).detect(pd.Series(values, index=days))
    assert not out["is_anomaly"][new_year].any()


def test_a_holiday_the_history_never_saw_is_not_judged():
    # The history (October to December) holds no New Year's Day: Prophet has no effect for it and would
    # forecast an ordinary day, so the drop is not judged; the other forecast days are.
    days = pd.date_range("2024-10-01", "2025-01-05", freq="D", tz="UTC")
    values = noisy(len(days))
    new_year = (days.month == 1) & (days.day == 1)
    values[new_year] -= 30
    s = pd.Series(values, index=days)
    options = {"mode": "next_step", "horizon": 7, "yearly_seasonality": False, "calibration_folds": 0}
    out = ProphetDetector(holidays_country="JP", **options).detect(s)
    assert out["expected"][new_year].isna().all() and not out["is_anomaly"].any()
    assert out["expected"].iloc[-7:][~new_year[-7:]].notna().all()
    assert ProphetDetector(**options).detect(s)["is_anomaly"][new_year].all()  # without the calendar: judged


def test_an_unknown_holiday_country_is_rejected_by_name():
    with pytest.raises(ValidationError, match="holidays_country"):
        ProphetDetector(holidays_country="Atlantis")


@pytest.mark.parametrize("width", [0.0, 1.0, 1.5])
def test_interval_width_must_lie_strictly_between_zero_and_one(width):
    with pytest.raises(ValidationError, match="interval_width"):
        ProphetDetector(interval_width=width)


def test_next_step_flags_the_first_point_of_a_level_shift():
    values = weekly(70, weekend=20)
    values[-1] += 30
    out = ProphetDetector(mode="next_step", yearly_seasonality=False).detect(daily(values))
    assert flagged(out) == [69]


def test_unsorted_timestamps_keep_each_point_with_its_own_forecast():
    # Prophet returns its forecast sorted by date: written back by position, it landed on other points.
    values = weekly(56, weekend=20)
    values[40] += 30
    s = daily(values)
    shuffled = s.sample(frac=1.0, random_state=3)
    detector = ProphetDetector(yearly_seasonality=False)
    pd.testing.assert_frame_equal(detector.detect(shuffled).sort_index(), detector.detect(s), check_freq=False)
    assert detector.detect(shuffled)["is_anomaly"].sum() == 1


def test_the_band_is_calibrated_on_out_of_sample_scores():
    # Heavy-tailed noise: Prophet's own interval is too narrow, the calibrated threshold widens it.
    rng = np.random.default_rng(8)
    values = weekly(150, weekend=20) + rng.standard_t(2, 150) * 2
    detector = ProphetDetector(mode="next_step", yearly_seasonality=False, interval_width=0.95)
    verdict = detector.judge(daily(values))
    tau = verdict.thresholds[-1, 0]
    assert tau > 1.2
    raw = ProphetDetector(mode="next_step", yearly_seasonality=False, interval_width=0.95, calibration_folds=0)
    out, uncalibrated = verdict.frame(daily(values).index), raw.detect(daily(values))
    # Each side is calibrated on its own; the threshold recorded is the wider side's.
    above = (out["upper"] - out["expected"]) / (uncalibrated["upper"] - uncalibrated["expected"])
    below = (out["expected"] - out["lower"]) / (uncalibrated["expected"] - uncalibrated["lower"])
    assert max(above.iloc[-1], below.iloc[-1]) == pytest.approx(tau)
    assert min(above.iloc[-1], below.iloc[-1]) > 1.2


def test_the_stderr_floors_the_band():
    values = weekly(70, weekend=20, noise=0.1)
    out = ProphetDetector(mode="next_step", yearly_seasonality=False, calibration_folds=0).detect(
        daily(values), info=SeriesInfo(stderr=np.full(70, 5.0))
    )
    assert out["upper"].iloc[-1] - out["expected"].iloc[-1] >= 5.0 * 2.57


def test_excluded_points_are_left_out_of_the_fit():
    values = weekly(70, weekend=20)
    values[60:65] += 200  # a broken stretch whose checks failed
    excluded = np.zeros(70, dtype=bool)
    excluded[60:65] = True
    clean = weekly(70, weekend=20)
    detector = ProphetDetector(mode="next_step", yearly_seasonality=False, calibration_folds=0)
    with_broken = detector.detect(daily(values), info=SeriesInfo(excluded=excluded))
    assert with_broken["expected"].iloc[-1] == pytest.approx(detector.detect(daily(clean))["expected"].iloc[-1], abs=3)


def test_a_budget_replaces_the_interval_width_as_the_nominal_rate():
    detector = ProphetDetector(budget="1/quarter")
    assert detector.budget == "1/quarter"
    with pytest.raises(ValidationError, match="budget"):
        ProphetDetector(budget="sometimes")
