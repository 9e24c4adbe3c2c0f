"""Scores of small counts from their own distribution instead of a Gaussian approximation.

A count with a small mean (errors a day, rare events) is skewed and discrete: 4 errors on a
day that averages 0.3 lies 6.8 standard deviations above the mean, yet happens every 10 years
rather than never. So the ``auto`` detector scores such counts by their tail probability under
a negative binomial with the forecast's mean and variance (a Poisson when the variance does not
exceed the mean), mapped to the standard normal score with the same tail probability (the
mid-p probability integral transform: half the probability of the observed value counts as
below it). The scores then behave like Gaussian ones, and the calibration on top of them works
for every count size. The band is the pair of counts whose tail probabilities equal the
threshold's.

Example:
    >>> z = count_scores(np.array([0.0, 1.0, 4.0]), mean=np.full(3, 0.3), variance=np.full(3, 0.3))
    >>> z.round(2).tolist()  # 4 when 0.3 is expected: rare, but not 6.8 sigma rare
    [-0.33, 1.04, 3.63]
"""

from __future__ import annotations

import numpy as np
from scipy.special import betainc, gammaincc, ndtr, ndtri

#: Counts whose forecast mean is below this are scored by their distribution (above it, the Gaussian
#: approximation is as good and cheaper).
SMALL_MEAN = 50.0
_SCORE_LIMIT = 38.0  # |ndtri| of probabilities within float64's reach


def count_scores(value: np.ndarray, *, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """The standard normal score with the same mid-p tail probability as ``value`` under the count model."""
    below = _cdf(value - 1, mean, variance)
    at_most = _cdf(value, mean, variance)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = ndtri(np.clip(0.5 * (below + at_most), 1e-300, 1 - 1e-16))
    return np.clip(scores, -_SCORE_LIMIT, _SCORE_LIMIT)


def count_band(*, mean: np.ndarray, variance: np.ndarray, threshold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (continuous) counts whose cumulative probability is that of ``-threshold`` and ``+threshold``."""
    low = _inverse(ndtr(-threshold), mean, variance)
    high = _inverse(ndtr(threshold), mean, variance)
    return low, high


def _cdf(k: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """P(X <= k) for real ``k`` (floored), 0 below 0: negative binomial, or Poisson without overdispersion."""
    k = np.floor(k)
    mean = np.maximum(mean, 1e-9)
    excess = np.maximum(variance - mean, 0.0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        size = np.where(excess > 1e-9 * mean, mean**2 / np.maximum(excess, 1e-300), np.inf)
        success = size / (size + mean)
        negative_binomial = betainc(size, np.maximum(k, 0) + 1, success)
        poisson = gammaincc(np.maximum(k, 0) + 1, mean)
    cdf = np.where(np.isfinite(size), negative_binomial, poisson)
    return np.where(k < 0, 0.0, cdf)


def _inverse(probability: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """The smallest count whose CDF reaches ``probability``, by bisection on the continuous CDF."""
    low = np.zeros_like(mean)
    high = mean + 15 * np.sqrt(np.maximum(variance, mean)) + 10
    for _ in range(40):
        middle = (low + high) / 2
        reached = _continuous_cdf(middle, mean, variance) >= probability
        high = np.where(reached, middle, high)
        low = np.where(reached, low, middle)
    return np.where(_continuous_cdf(np.zeros_like(mean), mean, variance) >= probability, 0.0, high)


def _continuous_cdf(k: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    mean = np.maximum(mean, 1e-9)
    excess = np.maximum(variance - mean, 0.0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        size = np.where(excess > 1e-9 * mean, mean**2 / np.maximum(excess, 1e-300), np.inf)
        success = size / (size + mean)
        return np.where(np.isfinite(size), betainc(size, k + 1, success), gammaincc(k + 1, mean))
