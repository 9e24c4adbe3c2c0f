"""Straightforward reference implementation of Seasonal Hybrid ESD, for speed and parity comparisons.

It does what R's ``detect_anoms`` does, the obvious way: decompose with a library STL
configured as R's ``stl(s.window="periodic", robust=TRUE)`` (statsmodels where it accepts
R's windows, otherwise the ``rstl`` port of R's code, e.g. period 7), then loop: recompute
median and MAD of what is left, remove the most extreme point, compute the Student t
critical value, repeat. Same output as ``SeasonalHybridESD`` (positional input, no NaN,
no longterm/threshold/only_last), written for clarity, not speed.

Usage: ``reference_shesd(values, period=7, max_anoms=0.1, direction="both")`` returns a
DataFrame with ``expected``, ``score`` and ``is_anomaly`` per point.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import rstl
from scipy import stats
from statsmodels.tsa.seasonal import STL


def _next_odd(value: float) -> int:
    rounded = round(value)
    return rounded + 1 if rounded % 2 == 0 else rounded


def r_stl(values: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Seasonal (averaged per cycle position) and trend as R's robust periodic ``stl``."""
    n = len(values)
    seasonal_window = 10 * n + 1
    trend_window = _next_odd(math.ceil(1.5 * period / (1 - 1.5 / seasonal_window)))
    low_pass_window = _next_odd(period)
    if low_pass_window > period:
        fit = STL(
            values,
            period=period,
            seasonal=seasonal_window,
            trend=trend_window,
            low_pass=low_pass_window,
            seasonal_deg=0,
            robust=True,
            seasonal_jump=math.ceil(seasonal_window / 10),
            trend_jump=math.ceil(trend_window / 10),
            low_pass_jump=math.ceil(low_pass_window / 10),
        ).fit(inner_iter=1, outer_iter=15)
        seasonal, trend = np.asarray(fit.seasonal), np.asarray(fit.trend)
    else:
        fit = rstl.STL(values, period, "periodic", robust=True)
        seasonal, trend = fit.seasonal, fit.trend
    cycle = np.arange(n) % period
    means = pd.Series(seasonal).groupby(cycle).mean().to_numpy()
    return means[cycle], trend


def reference_shesd(
    values: np.ndarray, *, period: int, max_anoms: float = 0.10, alpha: float = 0.05, direction: str = "pos"
) -> pd.DataFrame:
    """S-H-ESD on one positional series without NaN, recomputing median and MAD at every step."""
    x = np.asarray(values, dtype="float64")
    n = len(x)
    seasonal, trend = r_stl(x, period)
    remainder = x - seasonal - np.median(x)
    max_outliers = int(n * max(max_anoms, 1 / n))

    removed, statistics, num_anoms = reference_esd(remainder, max_outliers, alpha, direction)
    score = np.full(n, np.nan)
    score[removed] = statistics
    is_anomaly = np.zeros(n, dtype=bool)
    is_anomaly[removed[:num_anoms]] = True
    return pd.DataFrame({"expected": np.trunc(trend + seasonal), "score": score, "is_anomaly": is_anomaly})


def reference_esd(
    remainder: np.ndarray, steps: int, alpha: float, direction: str
) -> tuple[list[int], list[float], int]:
    """The recomputing ESD loop: removed positions, their statistics, and the anomaly count."""
    alive = np.arange(len(remainder))
    data = np.asarray(remainder, dtype="float64").copy()
    n = len(data)
    removed: list[int] = []
    statistics: list[float] = []
    num_anoms = 0
    for i in range(1, steps + 1):
        median = np.median(data)
        sigma = 1.4826 * np.median(np.abs(data - median))
        if not sigma > 0:
            break
        if direction == "pos":
            deviation = (data - median) / sigma
        elif direction == "neg":
            deviation = (median - data) / sigma
        else:
            deviation = np.abs(data - median) / sigma
        statistic = deviation.max()
        position = int(np.flatnonzero(deviation == statistic)[0])
        removed.append(int(alive[position]))
        statistics.append(float(statistic))
        alive = np.delete(alive, position)
        data = np.delete(data, position)
        tail = alpha / (2 * (n - i + 1)) if direction == "both" else alpha / (n - i + 1)
        t = stats.t.ppf(1 - tail, n - i - 1)
        if statistic > t * (n - i) / np.sqrt((n - i - 1 + t**2) * (n - i + 1)):
            num_anoms = i
    return removed, statistics, num_anoms
