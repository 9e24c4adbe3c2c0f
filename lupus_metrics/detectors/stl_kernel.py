"""Vectorized port of R's STL Fortran (``stl.f``: ``stlstp``, ``stlss``, ``stlfts``, ``stless``, ``est``, ``stlrwt``).

Hand-written because no maintained library runs R's configuration for odd periods fast:
statsmodels' STL refuses a low-pass window equal to the period (R's ``nextodd(7) == 7``),
and ``rstl``, a line-by-line Python port, needs about a second per 730-point series.
Every loess evaluation of one smoothing pass is computed at once as a (points x window)
weight matrix, so a pass costs a few numpy calls; the arithmetic follows the Fortran
(tricube weights cut at 0.001h/0.999h, degree-1 correction, jumps with linear
interpolation, bisquare robustness weights from six times the median absolute residual).
Use it through :func:`lupus_metrics.detectors.stl.stl_periodic_robust`.

Example:
    >>> import numpy as np
    >>> x = np.tile([0.0, 2.0, 1.0], 5)
    >>> seasonal, trend = stl_fit(x, period=3, seasonal=151, trend=5, low_pass=3, seasonal_deg=0,
    ...                           trend_deg=1, low_pass_deg=1, seasonal_jump=16, trend_jump=1,
    ...                           low_pass_jump=1, inner=1, outer=15)
    >>> np.round(seasonal[:3] + trend[:3], 6).tolist()
    [0.0, 2.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class _Window:
    """Loess evaluations at 1-based positions ``xs``, each over ``width`` consecutive points.

    ``index``: 0-based data index per (evaluation, slot); ``tricube``: R's distance weights.
    """

    n: int
    xs: np.ndarray
    index: np.ndarray
    h: np.ndarray
    tricube: np.ndarray


def _window(n: int, length: int, xs: np.ndarray, nleft: np.ndarray, width: int) -> _Window:
    positions = nleft[:, None] + np.arange(width)[None, :]  # 1-based
    nright = nleft + width - 1
    h = np.maximum(xs - nleft, nright - xs).astype("float64")
    if length > n:
        h = h + (length - n) // 2
    distance = np.abs(positions - xs[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        tricube = (1.0 - (distance / h[:, None]) ** 3) ** 3
    weights = np.where(distance <= 0.001 * h[:, None], 1.0, tricube)
    weights = np.where(distance <= 0.999 * h[:, None], weights, 0.0)
    return _Window(n=n, xs=xs, index=positions - 1, h=h, tricube=weights)


@lru_cache(maxsize=256)
def _loess_plan(n: int, length: int, jump: int) -> tuple[np.ndarray, _Window]:
    """R's ``stless`` evaluation points (every ``jump``-th and the last) and their windows."""
    step = min(jump, n - 1)
    points = np.arange(1, n + 1, step)
    if points[-1] != n:
        points = np.append(points, n)
    if length >= n:
        nleft = np.ones(len(points), dtype=np.int64)
        width = n
    else:
        half = (length + 1) // 2
        nleft = np.clip(points - half + 1, 1, n - length + 1)
        width = length
    return points, _window(n, length, points.astype("float64"), nleft, width)


@lru_cache(maxsize=256)
def _ends_window(size: int, length: int) -> _Window:
    """R's ``stlss`` extrapolation one step before the first and after the last point."""
    nleft = np.array([1, max(1, size - length + 1)], dtype=np.int64)
    return _window(size, length, np.array([0.0, size + 1.0]), nleft, min(length, size))


def _est(y: np.ndarray, window: _Window, degree: int, robustness: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """R's ``est``: loess fits of each row of ``y`` (batch x n) for every evaluation of ``window``.

    Returns the fitted values (batch x evaluations) and whether each fit had positive weight.
    """
    weights = window.tricube[None, :, :]
    if robustness is not None:
        weights = weights * robustness[:, window.index]
    total = weights.sum(axis=-1)
    ok = total > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = weights / total[..., None]
        if degree > 0:
            pos = (window.index + 1.0)[None, :, :]
            centre = (weights * pos).sum(axis=-1)
            slope = window.xs[None, :] - centre
            spread = (weights * (pos - centre[..., None]) ** 2).sum(axis=-1)
            adjust = (window.h[None, :] > 0) & (np.sqrt(spread) > 0.001 * (window.n - 1.0))
            factor = np.where(adjust, slope / spread, 0.0)
            weights = np.where(
                adjust[..., None], weights * (factor[..., None] * (pos - centre[..., None]) + 1.0), weights
            )
        fitted = (weights * y[:, window.index]).sum(axis=-1)
    return np.where(ok, fitted, np.nan), ok


def _loess(y: np.ndarray, length: int, degree: int, jump: int, robustness: np.ndarray | None) -> np.ndarray:
    """R's ``stless``: loess of every row of ``y`` at every ``jump``-th point, linear in between."""
    n = y.shape[1]
    if n < 2:
        return y.copy()
    points, window = _loess_plan(n, length, jump)
    fitted, ok = _est(y, window, degree, robustness)
    at_points = np.where(ok, fitted, y[:, points - 1])
    if len(points) == n:
        return at_points
    # Linear interpolation between evaluated points, as the Fortran does it.
    segment = np.searchsorted(points, np.arange(1, n + 1), side="right") - 1
    segment = np.minimum(segment, len(points) - 2)
    start = points[segment]
    gap = points[segment + 1] - start
    delta = (at_points[:, segment + 1] - at_points[:, segment]) / gap
    smooth = at_points[:, segment] + delta * (np.arange(1, n + 1) - start)
    smooth[:, points - 1] = at_points
    return smooth


def _cycle_subseries(
    y: np.ndarray, period: int, length: int, degree: int, jump: int, robustness: np.ndarray | None
) -> np.ndarray:
    """R's ``stlss``: smooth each cycle-subseries and extend it one cycle on each side (n + 2 period)."""
    n = len(y)
    out = np.empty(n + 2 * period)
    sizes = (n - 1 - np.arange(period)) // period + 1
    for size in np.unique(sizes):
        cycles = np.flatnonzero(sizes == size)
        index = cycles[:, None] + period * np.arange(size)[None, :]
        sub = y[index]
        sub_rw = None if robustness is None else robustness[index]
        smooth = _loess(sub, length, degree, jump, sub_rw)
        ends, ok = _est(sub, _ends_window(int(size), length), degree, sub_rw)
        first = np.where(ok[:, 0], ends[:, 0], smooth[:, 0])
        last = np.where(ok[:, 1], ends[:, 1], smooth[:, -1])
        extended = np.column_stack([first, smooth, last])
        out[cycles[:, None] + period * np.arange(size + 2)[None, :]] = extended
    return out


def _moving_average(x: np.ndarray, length: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(x, length).sum(axis=1) / length


def _low_pass(season: np.ndarray, period: int) -> np.ndarray:
    """R's ``stlfts``: moving averages of lengths period, period and 3."""
    return _moving_average(_moving_average(_moving_average(season, period), period), 3)


def _robustness_weights(y: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """R's ``stlrwt``: bisquare weights of the residuals scaled by six times their median."""
    residual = np.abs(y - fit)
    n = len(y)
    middle = np.partition(residual, [n // 2 - (1 - n % 2), n // 2])
    cmad = 3.0 * (middle[n // 2] + middle[n // 2 - (1 - n % 2)])
    c9, c1 = 0.999 * cmad, 0.001 * cmad
    with np.errstate(divide="ignore", invalid="ignore"):
        bisquare = (1.0 - (residual / cmad) ** 2) ** 2
    return np.where(residual <= c1, 1.0, np.where(residual <= c9, bisquare, 0.0))


def stl_fit(
    y: np.ndarray,
    *,
    period: int,
    seasonal: int,
    trend: int,
    low_pass: int,
    seasonal_deg: int,
    trend_deg: int,
    low_pass_deg: int,
    seasonal_jump: int,
    trend_jump: int,
    low_pass_jump: int,
    inner: int,
    outer: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Seasonal and trend of ``y`` by R's ``stl`` Fortran with robustness iterations (no periodic averaging)."""
    y = np.asarray(y, dtype="float64")
    n = len(y)
    period = max(2, period)
    seasonal, trend_window, low_pass = (max(3, w) + (max(3, w) % 2 == 0) for w in (seasonal, trend, low_pass))
    season = np.zeros(n)
    trend_fit = np.zeros(n)
    robustness: np.ndarray | None = None
    for iteration in range(outer + 1):
        if iteration > 0:
            robustness = _robustness_weights(y, trend_fit + season)
        for _ in range(inner):
            detrended = (y - trend_fit)[None, :]
            cycle = _cycle_subseries(detrended[0], period, seasonal, seasonal_deg, seasonal_jump, robustness)
            low = _loess(_low_pass(cycle, period)[None, :], low_pass, low_pass_deg, low_pass_jump, None)[0]
            season = cycle[period : period + n] - low
            rw = None if robustness is None else robustness[None, :]
            trend_fit = _loess((y - season)[None, :], trend_window, trend_deg, trend_jump, rw)[0]
    return season, trend_fit
