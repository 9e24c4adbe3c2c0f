"""The hybrid generalized ESD test (Rosner 1983 with median and MAD), as Twitter's ``detect_anoms`` runs it.

Step ``i`` (1-based) of ``max_outliers`` steps computes, over the points not yet removed,
``R_i = max |x - median| / MAD`` (one-sided: ``x - median`` for ``"pos"``, ``median - x`` for
``"neg"``), removes the point that attains it (the earliest on ties) and compares ``R_i`` with
Rosner's critical value ``lambda_i = t (n-i) / sqrt((n-i-1+t^2)(n-i+1))``, ``t`` the Student t
quantile at ``1 - alpha/(n-i+1)`` (``1 - alpha/(2(n-i+1))`` two-sided) with ``n-i-1`` degrees of
freedom. The anomalies are the points removed in the first ``k`` steps, ``k`` the LAST step
whose ``R_k > lambda_k``. MAD is R's ``mad``: ``1.4826 * median |x - median|``; a zero MAD
stops the test (R's guard for constant series).

Why it is fast: the removed point is always the largest or the smallest one left, so the
points left are a contiguous slice of the values sorted once. The median of a sorted slice
is read directly, and the median absolute deviation is the middle of two sorted runs (the
distances below and above the median), found by binary search. Each step costs O(log n)
instead of R's O(n) median and MAD recomputation; the critical values are one vectorized
``scipy.stats.t.ppf`` call. No library provides this incremental form, hence hand-written.

Example:
    >>> import numpy as np
    >>> x = np.array([0.1, -0.2, 0.0, 9.0, 0.2, -0.1, 0.05, -0.05, 0.15, -0.15])
    >>> result = hybrid_esd(x, max_outliers=2, alpha=0.05, direction="both")
    >>> result.anomalies.tolist(), result.tested.tolist()
    ([3], [3, 1])
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Literal

import numpy as np

Direction = Literal["pos", "neg", "both"]

# R's mad() consistency constant for the normal distribution.
MAD_CONSTANT = 1.4826


@dataclass(frozen=True)
class EsdResult:
    """Outcome of :func:`hybrid_esd`.

    ``tested``: positions removed at steps 1, 2, ... (in step order); ``statistics``: their
    ``R_i``; ``critical``: ``lambda_i``; ``anomalies``: the first ``num_anoms`` tested positions.
    """

    tested: np.ndarray
    statistics: np.ndarray
    critical: np.ndarray
    num_anoms: int

    @property
    def anomalies(self) -> np.ndarray:
        return self.tested[: self.num_anoms]


def critical_values(n: int, steps: int, alpha: float, two_sided: bool) -> np.ndarray:
    """Rosner's ``lambda_i`` for ``i = 1..steps`` and sample size ``n``.

    >>> critical_values(100, 2, 0.05, two_sided=True).round(4).tolist()
    [3.3841, 3.3807]
    """
    from scipy import stats  # lazy: scipy.stats costs a second at import, paid by every definitions load

    i = np.arange(1, steps + 1, dtype="float64")
    tail = alpha / (2 * (n - i + 1)) if two_sided else alpha / (n - i + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = stats.t.ppf(1 - tail, n - i - 1)
        return t * (n - i) / np.sqrt((n - i - 1 + t**2) * (n - i + 1))


def _kth_distance(values: list[float], lo: int, hi: int, split: int, median: float, k: int) -> float:
    """The ``k``-th smallest (0-based) of ``|values[lo:hi] - median|``; ``values`` sorted, ``split`` the
    first position whose value is >= median. Distances below the split grow leftwards, above it rightwards."""
    below = split - lo
    above = hi - split
    first = max(0, k + 1 - above)
    last = min(k + 1, below)
    while first < last:
        taken = (first + last) // 2
        if median - values[split - 1 - taken] < values[split + k - taken] - median:
            first = taken + 1
        else:
            last = taken
    taken = first
    best = -np.inf
    if taken > 0:
        best = median - values[split - taken]
    if k - taken >= 0:
        best = max(best, values[split + k - taken] - median)
    return best


def hybrid_esd(remainder: np.ndarray, max_outliers: int, alpha: float, direction: Direction) -> EsdResult:
    """Run ``max_outliers`` steps of the hybrid ESD test on ``remainder`` (finite floats)."""
    x = np.asarray(remainder, dtype="float64")
    n = len(x)
    positions = np.arange(n)
    ascending = np.lexsort((positions, x)).tolist()
    descending = np.lexsort((positions, -x)).tolist()
    values = np.sort(x, kind="stable").tolist()
    lo, hi = 0, n
    tested: list[int] = []
    statistics: list[float] = []
    for _ in range(max_outliers):
        size = hi - lo
        if size < 1:
            break
        middle = lo + size // 2
        median = values[middle] if size % 2 else (values[middle - 1] + values[middle]) / 2
        split = bisect.bisect_left(values, median, lo, hi)
        low_k, high_k = (size - 1) // 2, size // 2
        mad_core = _kth_distance(values, lo, hi, split, median, high_k)
        if low_k != high_k:
            mad_core = (_kth_distance(values, lo, hi, split, median, low_k) + mad_core) / 2
        sigma = MAD_CONSTANT * mad_core
        if not sigma > 0:
            break
        top = (values[hi - 1] - median) / sigma
        bottom = (median - values[lo]) / sigma
        # n - hi points were taken from the top so far, lo from the bottom.
        take_top = direction == "pos" or (
            direction == "both" and (top > bottom or (top == bottom and descending[n - hi] < ascending[lo]))
        )
        if take_top:
            tested.append(descending[n - hi])
            statistics.append(top)
            hi -= 1
        else:
            tested.append(ascending[lo])
            statistics.append(bottom)
            lo += 1
    critical = critical_values(n, len(tested), alpha, two_sided=direction == "both")
    passed = np.flatnonzero(np.asarray(statistics) > critical)
    num_anoms = int(passed[-1]) + 1 if len(passed) else 0
    return EsdResult(
        tested=np.asarray(tested, dtype=np.int64),
        statistics=np.asarray(statistics, dtype="float64"),
        critical=critical,
        num_anoms=num_anoms,
    )
