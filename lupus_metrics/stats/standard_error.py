"""Standard errors of the values Lupus computes: the few formulas every metric family shares.

Every metric point may carry ``n`` (the support behind the value: rows, users, pairs) and
``stderr`` (the standard error of the value as an estimate of what it measures), NaN when
undefined. The conventions, used by the profile, evaluation, drift and churn code alike
(definitions per metric in docs/stats.md and docs/evaluation.md):

- a **rate** p over n units: the Wald standard error √(p(1−p)/n) (0 when p is 0 or 1);
- a **mean** over n units: sd/√n, sd the sample standard deviation (ddof 1); undefined for n < 2;
- a **smooth function of means** (F1, RMSE, R², ...): the delta method, i.e. the standard
  deviation of the value's influence function over the units, divided by √n.

Rows (users, entities) are treated as independent draws; that is the assumption behind every
``stderr`` Lupus reports.

Example:
    >>> rate_stderr(np.array([0.5, 0.0]), np.array([100.0, 10.0])).tolist()
    [0.05, 0.0]
    >>> mean_stderr(np.array([2.0, 2.0]), np.array([4.0, 1.0])).tolist()
    [1.0, nan]
"""

from __future__ import annotations

import numpy as np


def rate_stderr(p: np.ndarray | float, n: np.ndarray | float) -> np.ndarray:
    """√(p(1−p)/n): the Wald standard error of a rate ``p`` over ``n`` units; NaN where n ≤ 0 or p is NaN."""
    p, n = np.asarray(p, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = np.clip(p * (1.0 - p), 0.0, None) / n
    return np.where(n > 0, np.sqrt(variance), np.nan)


def mean_stderr(sd: np.ndarray | float, n: np.ndarray | float) -> np.ndarray:
    """sd/√n: the standard error of a mean over ``n`` units with sample standard deviation ``sd``; NaN for n < 2."""
    sd, n = np.asarray(sd, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n >= 2, sd / np.sqrt(n), np.nan)


def sample_sd(total: np.ndarray | float, squares: np.ndarray | float, n: np.ndarray | float) -> np.ndarray:
    """Sample standard deviation (ddof 1) from the sum and the sum of squares of ``n`` values; NaN for n < 2.

    Used where values are bounded (per-user ranking metrics in [0, 1]), so the one-pass
    formula loses no precision worth speaking of.

    >>> float(sample_sd(6.0, 14.0, 3.0))
    1.0
    """
    total, squares, n = (np.asarray(v, dtype=np.float64) for v in (total, squares, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = (squares - total * total / n) / (n - 1.0)
    return np.where(n >= 2, np.sqrt(np.clip(variance, 0.0, None)), np.nan)


def influence_stderr(weights: np.ndarray, influence: np.ndarray) -> float:
    """Delta-method standard error of a statistic whose influence per unit is ``influence``.

    ``weights[j]`` units share the influence value ``influence[j]`` (e.g. the rows of one cell
    of a confusion matrix). The influence values have mean zero by construction; the variance
    of the statistic is Σ w·ψ² / n², with n = Σ w (the plug-in, as √(p(1−p)/n) for a rate).

    >>> round(influence_stderr(np.array([30.0, 70.0]), np.array([0.7, -0.3])), 6)  # a rate of 0.3 over 100
    0.045826
    """
    n = float(np.sum(weights))
    if n <= 0:
        return float("nan")
    return float(np.sqrt(np.sum(weights * influence * influence)) / n)
