"""R-compatible STL: R's windows, the statsmodels path, the odd-period kernel, and input rules."""

from __future__ import annotations

import numpy as np
import pytest
import rstl

from lupus_metrics.detectors.stl import periodic_mean, r_stl_windows, stl_periodic_robust
from lupus_metrics.detectors.stl_kernel import stl_fit
from lupus_metrics.errors import LupusValidationError


def seasonal_series(n: int, period: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = 3 * np.sin(np.arange(n) * 2 * np.pi / period) + 0.02 * np.arange(n) + rng.normal(size=n)
    x[n // 3] += 25.0  # an outlier, so the robustness weights matter
    return x


def kernel(x: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    w = r_stl_windows(len(x), period)
    return stl_fit(
        x,
        period=period,
        seasonal=w.seasonal,
        trend=w.trend,
        low_pass=w.low_pass,
        seasonal_deg=0,
        trend_deg=1,
        low_pass_deg=1,
        seasonal_jump=w.seasonal_jump,
        trend_jump=w.trend_jump,
        low_pass_jump=w.low_pass_jump,
        inner=1,
        outer=15,
    )


def test_windows_follow_r_for_minutely_data():
    w = r_stl_windows(n=14398, period=1440)
    assert (w.seasonal, w.trend, w.low_pass) == (143981, 2161, 1441)
    assert (w.seasonal_jump, w.trend_jump, w.low_pass_jump) == (14399, 217, 145)


def test_windows_follow_r_for_daily_data():
    w = r_stl_windows(n=730, period=7)
    assert (w.seasonal, w.trend, w.low_pass) == (7301, 11, 7)
    assert (w.seasonal_jump, w.trend_jump, w.low_pass_jump) == (731, 2, 1)


@pytest.mark.parametrize(("n", "period"), [(120, 7), (61, 5), (97, 12)])
def test_kernel_matches_rstl_port_of_r(n, period):
    # Tiny trend windows (period 3: five points) can flip loess's degree-1 switch on rounding
    # noise after many robustness passes, so the comparison uses well-conditioned shapes.
    x = seasonal_series(n, period)
    seasonal, trend = kernel(x, period)
    reference = rstl.STL(x, period, "periodic", robust=True)
    np.testing.assert_allclose(seasonal, reference.seasonal, rtol=0, atol=1e-9)
    np.testing.assert_allclose(trend, reference.trend, rtol=0, atol=1e-9)


def test_kernel_matches_statsmodels_where_statsmodels_accepts_r_windows():
    x = seasonal_series(300, 24)
    parts = stl_periodic_robust(x, 24)  # period 24: low-pass 25 > 24, the statsmodels path
    seasonal, trend = kernel(x, 24)
    np.testing.assert_allclose(parts.trend, trend, rtol=0, atol=1e-9)
    np.testing.assert_allclose(parts.seasonal, periodic_mean(seasonal, 24), rtol=0, atol=1e-9)


def test_odd_period_decomposition_matches_rstl_after_periodic_averaging():
    x = seasonal_series(150, 7, seed=3)
    parts = stl_periodic_robust(x, 7)
    reference = rstl.STL(x, 7, "periodic", robust=True)
    np.testing.assert_allclose(parts.seasonal, periodic_mean(reference.seasonal, 7), rtol=0, atol=1e-9)
    np.testing.assert_allclose(parts.trend, reference.trend, rtol=0, atol=1e-9)


def test_seasonal_component_repeats_every_period():
    parts = stl_periodic_robust(seasonal_series(100, 7), 7)
    cycles = parts.seasonal[:98].reshape(14, 7)
    assert np.all(cycles == cycles[0])


def test_components_add_up_to_the_series():
    x = seasonal_series(100, 8)
    parts = stl_periodic_robust(x, 8)
    np.testing.assert_allclose(parts.seasonal + parts.trend + parts.remainder, x, rtol=0, atol=1e-9)


def test_two_periods_or_fewer_are_rejected():
    with pytest.raises(LupusValidationError, match="less than two periods"):
        stl_periodic_robust(np.arange(14.0), 7)


def test_nan_is_rejected():
    x = seasonal_series(50, 7)
    x[10] = np.nan
    with pytest.raises(LupusValidationError, match="values: must be finite"):
        stl_periodic_robust(x, 7)


def test_period_below_two_is_rejected():
    with pytest.raises(LupusValidationError, match="period: must be an integer >= 2"):
        stl_periodic_robust(np.arange(20.0), 1)
