"""R-compatible STL: the decomposition of R's ``stl(x, s.window="periodic", robust=TRUE)``.

Seasonal Hybrid ESD (Twitter's AnomalyDetection) decomposes with exactly that call, so
parity with R needs R's windows, not the library defaults. For ``n`` points and period
``p`` R uses (``nextodd`` rounds up to an odd integer):

=================  =====================================  ================================
R ``stl``          value                                   statsmodels ``STL``
=================  =====================================  ================================
``s.window``       ``10 n + 1``, ``s.degree = 0``          ``seasonal``, ``seasonal_deg=0``
``t.window``       ``nextodd(ceil(1.5 p / (1 - 1.5 / s.window)))``  ``trend``, ``trend_deg=1``
``l.window``       ``nextodd(p)``, degree 1                ``low_pass``, ``low_pass_deg=1``
``*.jump``         ``ceil(window / 10)`` each              ``*_jump``
``inner/outer``    1 / 15 (``robust=TRUE``)                ``fit(inner_iter=1, outer_iter=15)``
=================  =====================================  ================================

After the fit R replaces the seasonal component by its mean per cycle position
("periodic") and recomputes ``remainder = x - seasonal - trend``; so do we.

statsmodels refuses ``low_pass <= period``, which is R's choice for every odd period (7 for
daily data, Lupus's most common case). There we run :mod:`~lupus_metrics.detectors.stl_kernel`,
a vectorized port of R's Fortran; the pure-Python port ``rstl`` gives the same numbers but
takes about a second per 730-point series (the tests compare the kernel with both).

Example:
    >>> import numpy as np
    >>> x = np.tile([1.0, 5.0, 3.0, 2.0, 9.0, 4.0, 0.0], 6) + np.arange(42) * 0.1
    >>> parts = stl_periodic_robust(x, period=7)
    >>> bool(np.allclose(parts.seasonal + parts.trend + parts.remainder, x))
    True
    >>> r_stl_windows(n=42, period=7)
    StlWindows(seasonal=421, trend=11, low_pass=7, seasonal_jump=43, trend_jump=2, low_pass_jump=1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from lupus_metrics.detectors.stl_kernel import stl_fit
from lupus_metrics.errors import LupusValidationError

# R's robust stl: one inner pass per outer iteration, fifteen outer (robustness) iterations.
INNER_ITERATIONS = 1
OUTER_ITERATIONS = 15


@dataclass(frozen=True)
class StlWindows:
    """Loess window lengths and jumps R's ``stl(s.window="periodic")`` chooses for ``n`` points."""

    seasonal: int
    trend: int
    low_pass: int
    seasonal_jump: int
    trend_jump: int
    low_pass_jump: int


@dataclass(frozen=True)
class StlDecomposition:
    """Seasonal, trend and remainder arrays, each as long as the input."""

    seasonal: np.ndarray
    trend: np.ndarray
    remainder: np.ndarray


def _next_odd(value: float) -> int:
    # R's nextodd(): round, then bump an even result to the next odd integer.
    rounded = round(value)
    return rounded + 1 if rounded % 2 == 0 else rounded


def r_stl_windows(n: int, period: int) -> StlWindows:
    """The windows R's ``stl(s.window="periodic")`` uses for ``n`` points of period ``period``."""
    seasonal = 10 * n + 1
    trend = _next_odd(math.ceil(1.5 * period / (1 - 1.5 / seasonal)))
    low_pass = _next_odd(period)
    return StlWindows(
        seasonal=seasonal,
        trend=trend,
        low_pass=low_pass,
        seasonal_jump=math.ceil(seasonal / 10),
        trend_jump=math.ceil(trend / 10),
        low_pass_jump=math.ceil(low_pass / 10),
    )


def stl_periodic_robust(values: ArrayLike, period: int) -> StlDecomposition:
    """Decompose ``values`` as R's ``stl(ts(values, frequency=period), s.window="periodic", robust=TRUE)``.

    ``values`` must be finite and longer than two periods (R's rule); ``period`` at least 2.
    """
    x = np.asarray(values, dtype="float64")
    if x.ndim != 1:
        raise LupusValidationError("values", "must be one-dimensional")
    if not isinstance(period, int | np.integer) or period < 2:
        raise LupusValidationError("period", "must be an integer >= 2", value=period)
    if not np.all(np.isfinite(x)):
        raise LupusValidationError("values", "must be finite (no NaN or infinity)")
    n = len(x)
    if n <= 2 * period:
        raise LupusValidationError(
            "values", f"series is not periodic or has less than two periods ({n} points, period {period})"
        )
    windows = r_stl_windows(n, int(period))
    if windows.low_pass > period and windows.trend > period:
        from statsmodels.tsa.seasonal import STL  # lazy: a slow import every definitions load would pay

        fit = STL(
            x,
            period=int(period),
            seasonal=windows.seasonal,
            trend=windows.trend,
            low_pass=windows.low_pass,
            seasonal_deg=0,
            trend_deg=1,
            low_pass_deg=1,
            robust=True,
            seasonal_jump=windows.seasonal_jump,
            trend_jump=windows.trend_jump,
            low_pass_jump=windows.low_pass_jump,
        ).fit(inner_iter=INNER_ITERATIONS, outer_iter=OUTER_ITERATIONS)
        seasonal, trend = np.asarray(fit.seasonal, dtype="float64"), np.asarray(fit.trend, dtype="float64")
    else:
        seasonal, trend = stl_fit(
            x,
            period=int(period),
            seasonal=windows.seasonal,
            trend=windows.trend,
            low_pass=windows.low_pass,
            seasonal_deg=0,
            trend_deg=1,
            low_pass_deg=1,
            seasonal_jump=windows.seasonal_jump,
            trend_jump=windows.trend_jump,
            low_pass_jump=windows.low_pass_jump,
            inner=INNER_ITERATIONS,
            outer=OUTER_ITERATIONS,
        )
    seasonal = periodic_mean(seasonal, int(period))
    return StlDecomposition(seasonal=seasonal, trend=trend, remainder=x - seasonal - trend)


def periodic_mean(seasonal: np.ndarray, period: int) -> np.ndarray:
    """Replace each value by the mean of its cycle position (R's ``s.window="periodic"`` step).

    >>> periodic_mean(np.array([1.0, 10.0, 3.0, 20.0]), 2).tolist()
    [2.0, 15.0, 2.0, 15.0]
    """
    n = len(seasonal)
    position = np.arange(n) % period
    means = np.bincount(position, weights=seasonal, minlength=period) / np.bincount(position, minlength=period)
    return means[position]
