"""Thresholds calibrated on a series' own out-of-sample scores: the threshold an alert budget implies.

A detector with a budget needs the score ``tau`` that clean points exceed with probability
``alpha`` (the budget as a share of points, e.g. 6.8e-4 for 0.25 false alerts a year on daily
data). Split-conformal calibration reads it off the empirical distribution of the series'
past out-of-sample scores, but a year of daily data holds a few hundred scores, and
the 1-in-1,500 quantile lies beyond the largest of them. So the tail is modelled:

* the upper ``TAIL_SHARE`` of the absolute scores is fitted with a **Weibull tail**,
  ``P(|score| > x) = exp(-(x / s)^k)`` (a straight line in ``log(-log P)`` against ``log x``, the
  Weibull plot, by least squares). ``k`` = 2 is a Gaussian tail, ``k`` = 1 an exponential
  (Laplace) one, smaller ``k`` heavier tails, so one form covers the light-to-moderately-heavy
  tails of standardized residuals; the fit uses dozens of points instead of the handful
  beyond an empirical high quantile, and ``tau`` is where the fitted line reaches ``alpha``;
* ``k`` is kept within [``MIN_SHAPE``, ``MAX_SHAPE``] (a fit on a few points can wander), and
  ``tau`` is never below the Gaussian quantile (calibration may widen a band for heavy tails,
  never narrow it below what the spread, floored by ``stderr`` and ``min_delta``, says);
* with fewer than ``MIN_SCORES`` scores there is nothing to fit: ``tau`` is the Student-t
  quantile with as many degrees of freedom as scores (a conservative stand-in for a Gaussian
  score whose scale was estimated from few points);
* scores of exactly zero (a sticky metric between its steps) are set aside: the tail of the
  non-zero scores is fitted at ``alpha`` divided by their share;
* scores given as ``+inf`` are censored: points already flagged, known to lie beyond any
  threshold but not by how much. They keep their ranks (so the exceedance rate stays right) and
  give the fit no value (so an incident cannot stretch the tail);
* autocorrelated scores (a forecast that stays off for days after a step: every later day of the
  fold is off by about as much) are worth fewer independent ones. A caller may pass their
  :func:`effective_count`; below ``MIN_SCORES`` the threshold is at least the Student-t stand-in
  with that many degrees of freedom, scaled by the scores' root mean square, since a fit to a few
  clumps of near-equal scores extrapolates far too light a tail.

The choice of model and constants was made on the tuning seeds of
``benchmarks/detection_quality.py``, which measures the resulting exceedance against the nominal
``alpha`` on held-out seeds.

Example:
    >>> rng = np.random.default_rng(0)
    >>> gaussian, heavy = np.abs(rng.normal(size=365)), np.abs(rng.standard_t(4, size=365))
    >>> tail_threshold(np.stack([gaussian, heavy]), 6.8e-4).round(1).tolist()  # exact: 3.4 and 6.7
    [3.7, 5.8]
"""

from __future__ import annotations

import numpy as np

#: Share of the largest absolute scores that the Weibull tail is fitted to.
TAIL_SHARE = 0.4
#: Fewest scores for a tail fit; below it the Student-t fallback applies.
MIN_SCORES = 40
#: Bounds of the fitted Weibull shape (2 = Gaussian tail).
MIN_SHAPE, MAX_SHAPE = 0.6, 2.5


def fallback_threshold(alpha: float | np.ndarray, count: np.ndarray | int) -> np.ndarray:
    """The two-sided Student-t quantile at ``alpha`` with ``count`` (at least 3) degrees of freedom."""
    from scipy.special import stdtrit  # imported on use: scipy costs every product definition load a second

    df = np.maximum(np.asarray(count, dtype="float64"), 3.0)
    return stdtrit(df, 1 - np.asarray(alpha, dtype="float64") / 2)


def tail_threshold(samples: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """Per row of ``samples`` (absolute scores, NaN = none), the score exceeded with probability ``alpha``.

    Rows with fewer than :data:`MIN_SCORES` scores get :func:`fallback_threshold`.
    """
    return thresholds(samples, alpha)[0]


def shift_threshold(samples: np.ndarray, alpha: float, window: int) -> np.ndarray:
    """Per row, the absolute score that ``window`` independent scores all exceed on one side with
    probability ``alpha / 2``: the empirical quantile of ``|score|`` at ``1 - 2 (alpha / 2) ** (1 / window)``.

    That quantile lies well inside the data (about the 91st percentile for ``alpha`` = 1.7e-4 and three
    points), so no tail model is needed. With fewer than :data:`MIN_SCORES` scores, the Student-t
    quantile stands in (as in :func:`fallback_threshold`).

    >>> rng = np.random.default_rng(0)
    >>> round(float(shift_threshold(np.abs(rng.normal(size=(1, 2000))), 1.7e-4, 3)[0]), 1)  # Gaussian: 1.7
    1.7
    """
    return thresholds(samples, alpha, shift_alpha=alpha, shift_window=window)[1]


def thresholds(
    samples: np.ndarray,
    alpha: float | np.ndarray,
    *,
    shift_alpha: float | None = None,
    shift_window: int = 3,
    effective: float | np.ndarray | None = None,
    floor: float | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`tail_threshold` at ``alpha`` and :func:`shift_threshold` at ``shift_alpha`` from one sort.

    Scores of exactly 0 (a sticky metric between its steps) are a point mass the Weibull form
    cannot follow: the tail is fitted to the non-zero scores alone, at ``alpha`` divided by their
    share, and with too few of them for a fit, a Student-t quantile scaled by their root mean square.
    ``effective`` (per row; default: the count of scores) is how many independent scores they are
    worth (:func:`effective_count`): with fewer than :data:`MIN_SCORES`, the threshold is at least the
    Student-t quantile with that many degrees of freedom. ``floor`` is the least threshold
    (default: :func:`gaussian_threshold` at ``alpha``).
    """
    samples = np.atleast_2d(np.asarray(samples, dtype="float64"))
    rows, width = samples.shape
    alpha = np.broadcast_to(np.asarray(alpha, dtype="float64"), (rows,))
    counts = np.count_nonzero(~np.isnan(samples), axis=1)
    # The share of independent information in each row's scores (1 unless the caller says less).
    worth = (
        np.ones(rows)
        if effective is None
        else np.clip(np.broadcast_to(effective, (rows,)) / np.maximum(counts, 1), 0, 1)
    )
    tau = fallback_threshold(alpha, np.maximum(counts - 1, 1))
    share = 2 * ((shift_alpha or 0.0) / 2) ** (1.0 / shift_window)
    tau_shift = fallback_threshold(share, np.maximum(counts - 1, 1)) if shift_alpha else np.full(rows, np.nan)
    if width == 0 or not counts.any():
        return tau, tau_shift
    # Descending order with NaN last.
    ordered = -np.sort(np.where(np.isnan(samples), np.inf, -np.abs(samples)), axis=1)
    enough = counts * worth >= MIN_SCORES
    if shift_alpha and enough.any():
        quantile = _quantile_of_sorted(ordered[enough], counts[enough], share)
        tau_shift[enough] = np.maximum(np.where(np.isfinite(quantile), quantile, np.inf), gaussian_threshold(share))
    positives = np.count_nonzero(ordered > 0, axis=1)
    finite = np.isfinite(ordered) & (ordered > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        conditional = np.clip(alpha * counts / positives, alpha, 0.5)
        squares = np.where(finite, ordered, 0.0) ** 2
        scale = np.maximum(1.0, np.sqrt(squares.sum(axis=1) / finite.sum(axis=1)))
    independent = positives * worth
    some = (positives >= 3) & ~enough | ((positives >= 3) & (independent < MIN_SCORES))
    tau[some] = scale[some] * fallback_threshold(conditional[some], np.maximum(independent[some] - 1, 1))
    fit = positives >= MIN_SCORES
    if fit.any():
        fitted = _weibull_tail(ordered[fit], positives[fit], conditional[fit])
        usable = np.isfinite(fitted)
        at = np.flatnonzero(fit)[usable]
        # Enough scores for a fit but too few independent ones (clumps): the Student-t stand-in is a floor
        # under the fit, which may still see a heavier tail than it.
        tau[at] = np.where(independent[at] < MIN_SCORES, np.maximum(tau[at], fitted[usable]), fitted[usable])
    return np.maximum(tau, gaussian_threshold(alpha) if floor is None else floor), tau_shift


def side_thresholds(scores: np.ndarray, alpha: float, *, effective: float | None = None) -> tuple[float, float]:
    """The thresholds below and above zero that signed ``scores`` each pass with probability ``alpha / 2``.

    A skewed score has one heavy side (a small count cannot fall far below its mean but can rise far
    above it); the absolute scores pooled fit a tail between the two sides and under-cover the heavy
    one. So each side is calibrated alone: its magnitudes, the other side's scores set aside as zeros
    (the tail is fitted at ``alpha / 2`` over the side's share), never below the Gaussian quantile at
    ``alpha`` (both sides together). ``effective`` as in :func:`thresholds`.

    >>> rng = np.random.default_rng(0)
    >>> low, high = side_thresholds(rng.poisson(1.0, 3000) - 1.0, 1e-3)  # exact: 1 below (so the floor), 5 above
    >>> round(low, 1), round(high, 1)
    (3.3, 6.8)
    """
    scores = np.asarray(scores, dtype="float64")
    scores = scores[~np.isnan(scores)]
    below, above = np.where(scores < 0, -scores, 0.0), np.where(scores > 0, scores, 0.0)
    tau = thresholds(np.stack([below, above]), alpha / 2, effective=effective, floor=gaussian_threshold(alpha))[0]
    return float(tau[0]), float(tau[1])


def effective_count(runs: list[np.ndarray]) -> float:
    """How many independent scores the signed ``runs`` (consecutive scores, e.g. one forecast fold each)
    are worth: ``n (1 - rho) / (1 + rho)``, with ``rho`` their lag-1 autocorrelation (about 0, since
    scores are centred there; pairs across two runs are not counted; clipped to [0, 0.99]).

    That is the count that gives a mean of AR(1) scores its variance: near ``n`` for day-to-day noise,
    a handful for a forecast that stays off for weeks after each step.

    >>> rng = np.random.default_rng(0)
    >>> round(effective_count([rng.normal(size=200)]))  # independent: about all of them
    185
    >>> round(effective_count([np.repeat(rng.normal(size=10), 20)]), 1)  # 10 levels held 20 days each
    4.4
    """
    pairs = squares = 0.0
    count = 0
    for run in runs:
        run = np.asarray(run, dtype="float64")
        run = run[np.isfinite(run)]
        count += len(run)
        if len(run) >= 2:
            pairs += float(np.sum(run[1:] * run[:-1]))
            squares += float(np.sum(run[1:] ** 2) + np.sum(run[:-1] ** 2)) / 2
    rho = float(np.clip(pairs / squares, 0.0, 0.99)) if squares > 0 else 0.0
    return count * (1 - rho) / (1 + rho)


def gaussian_threshold(alpha: float | np.ndarray) -> np.ndarray:
    """The two-sided standard normal quantile at ``alpha``: the least threshold calibration may set.

    Calibration may raise a threshold for tails heavier than Gaussian, never lower it below this:
    a spread floored by ``stderr`` or ``min_delta`` would otherwise be undone by a smaller threshold.
    """
    from scipy.special import ndtri

    return -ndtri(np.asarray(alpha, dtype="float64") / 2)


def _weibull_tail(ordered: np.ndarray, counts: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The Weibull-tail quantile at ``alpha`` per row of descending scores (NaN where it cannot be fitted)."""
    width = ordered.shape[1]
    k = np.minimum(np.maximum(8, np.ceil(TAIL_SHARE * counts)).astype(int), counts)
    top = min(width, int(k.max()) if len(k) else 0)
    rank = np.arange(1, top + 1)
    # Censored scores (+inf: flagged points, larger than any threshold) hold their ranks but give no x.
    used = (rank[None, :] <= k[:, None]) & np.isfinite(ordered[:, :top])
    x = np.log(np.where(used, ordered[:, :top], 1.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        # Unused ranks (beyond a row's own k) would give NaN, and NaN x 0 weight is still NaN.
        y = np.where(used, np.log(-np.log((rank[None, :] - 0.5) / counts[:, None])), 0.0)
    weight = used.astype("float64")
    m = np.maximum(weight.sum(axis=1), 1.0)
    x_mean = (x * weight).sum(axis=1) / m
    y_mean = (y * weight).sum(axis=1) / m
    sxx = (((x - x_mean[:, None]) ** 2) * weight).sum(axis=1)
    sxy = (((x - x_mean[:, None]) * (y - y_mean[:, None])) * weight).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        shape = np.clip(np.where(sxx > 0, sxy / sxx, MAX_SHAPE), MIN_SHAPE, MAX_SHAPE)
        intercept = y_mean - shape * x_mean
        tau = np.exp((np.log(-np.log(alpha)) - intercept) / shape)
    return np.where(k >= 5, tau, np.nan)


def _quantile_of_sorted(ordered: np.ndarray, counts: np.ndarray, share: float | np.ndarray) -> np.ndarray:
    """The value exceeded by a ``share`` of each row's descending scores (linear interpolation; the
    largest score when ``share`` < 1 / count)."""
    position = np.clip(np.asarray(share) * counts - 0.5, 0.0, np.maximum(counts - 1, 0).astype(float))
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, np.maximum(counts - 1, 0))
    fraction = position - low
    first = np.take_along_axis(ordered, low[:, None], axis=1)[:, 0]
    second = np.take_along_axis(ordered, high[:, None], axis=1)[:, 0]
    # Censored scores are +inf: between two of them the quantile is NaN (inf - inf), which the caller
    # reads as "no finite quantile" (an infinite threshold), so numpy's warning says nothing new.
    with np.errstate(invalid="ignore"):
        return first + fraction * (second - first)
