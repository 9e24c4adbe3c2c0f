import numpy as np
import pytest
from metrics.detectors.synthetic_series import daily, noisy

from lupus_metrics.detectors import ChangePointDetector, ThresholdDetector, WindowDetector, backtest
from lupus_metrics.errors import LupusValidationError


def spiky(n: int = 120) -> np.ndarray:
    values = noisy(n)
    values[[40, 80, 100]] += 20
    return values


def test_alerts_are_the_injected_anomalies_raised_on_their_own_day():
    report = backtest(daily(spiky()), WindowDetector(threshold=5), warmup=30)
    assert report.alerts.index.equals(daily(spiky()).index[[40, 80, 100]])
    assert report.alerts["delay"].tolist() == [0, 0, 0]


def test_one_run_per_step_after_warmup():
    assert backtest(daily(spiky()), WindowDetector(), warmup=30).runs == 90
    assert backtest(daily(spiky()), WindowDetector(), warmup=30, step=7).runs == 13


def test_points_before_warmup_never_alert():
    report = backtest(daily(spiky()), WindowDetector(threshold=5), warmup=50)
    assert len(report.alerts) == 2


def test_alert_rate_is_alerts_per_replayed_point():
    report = backtest(daily(spiky()), WindowDetector(threshold=5), warmup=30)
    assert report.points == 90
    assert report.alert_rate == pytest.approx(3 / 90)


def test_a_change_point_alerts_only_once_it_has_a_regime_to_show():
    values = noisy(150)
    values[100:] += 4
    report = backtest(daily(values), ChangePointDetector(min_size=7), warmup=60)
    positions = daily(values).index.get_indexer(report.alerts.index)
    assert len(report.alerts) >= 1
    assert all(abs(p - 100) <= 5 for p in positions)  # early runs place the boundary less exactly
    assert report.alerts["delay"].min() >= 6  # a regime needs min_size points before it exists


def test_replay_does_not_see_the_future():
    values = noisy(60)
    values[59] += 50
    with_future = backtest(daily(values), WindowDetector(window=5, threshold=5), warmup=10, lookback=20)
    without = backtest(daily(values[:59]), WindowDetector(window=5, threshold=5), warmup=10, lookback=20)
    assert with_future.alerts.index[:-1].equals(without.alerts.index)


def test_lookback_limits_the_history_a_run_reads():
    # A threshold needs no history, so every out-of-bounds point alerts whatever the lookback.
    report = backtest(daily([1.0, 9.0, 1.0, 9.0]), ThresholdDetector(max=5), warmup=0, lookback=1)
    assert len(report.alerts) == 2


def test_no_alerts_give_an_empty_report():
    report = backtest(daily(noisy(40)), ThresholdDetector(max=1e9), warmup=10)
    assert report.alerts.empty and report.alert_rate == 0.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"warmup": 40}, "warmup"), ({"warmup": 5, "step": 0}, "step"), ({"warmup": 5, "lookback": 0}, "lookback")],
)
def test_bad_replay_settings_are_named(kwargs, name):
    with pytest.raises(LupusValidationError, match=name):
        backtest(daily(noisy(40)), WindowDetector(), **kwargs)
