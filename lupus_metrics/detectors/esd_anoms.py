"""One pass of S-H-ESD over one stretch of data: R's ``detect_anoms`` of Twitter's AnomalyDetection.

Steps, as in R: reject fewer than two periods (NaN rows count), reject NaN anywhere but at
the start or the end (leading and trailing NaN are dropped), decompose the rest with R's
``stl(s.window="periodic", robust=TRUE)``, run the hybrid ESD test on
``value - seasonal - median(value)`` for ``trunc(n_with_nan * max_anoms)`` steps, and
report R's expected value ``trunc(trend + seasonal)`` (R's ``e_value``, truncated towards
zero as R does).

Example:
    >>> import numpy as np
    >>> values = np.tile([10.0, 20.0, 30.0, 20.0], 10) + np.tile([0.3, -0.2, 0.1, -0.4, 0.2], 8)
    >>> values[17] = 90.0
    >>> found = detect_anoms(values, period=4, max_anoms=0.1, alpha=0.05, direction="pos")
    >>> np.flatnonzero(found.is_anomaly).tolist(), float(found.expected[17])
    ([17], 19.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lupus_metrics.detectors.esd_test import Direction, hybrid_esd
from lupus_metrics.detectors.stl import stl_periodic_robust
from lupus_metrics.errors import LupusValidationError

# R's messages, kept word for word so users can search them.
TOO_SHORT = "Anom detection needs at least 2 periods worth of data"
NON_LEADING_NAS = (
    "Data contains non-leading NAs. We suggest replacing NAs with interpolated values (see na.approx in Zoo package)."
)


@dataclass(frozen=True)
class ChunkAnomalies:
    """Per-point results for one stretch (arrays as long as the stretch, NaN rows included).

    ``expected``: ``trunc(trend + seasonal)``, NaN on NaN rows; ``score``: the ESD statistic
    ``R_i`` of each tested point, NaN elsewhere; ``is_anomaly``: the ESD anomalies.
    """

    expected: np.ndarray
    score: np.ndarray
    is_anomaly: np.ndarray


def detect_anoms(
    values: np.ndarray, *, period: int, max_anoms: float, alpha: float, direction: Direction
) -> ChunkAnomalies:
    """Seasonal Hybrid ESD on ``values`` (float array, NaN allowed only at the ends)."""
    x = np.asarray(values, dtype="float64")
    num_obs = len(x)
    if num_obs < period * 2:
        raise LupusValidationError("series", f"{TOO_SHORT} ({num_obs} points, period {period})")
    missing = np.isnan(x)
    present = np.flatnonzero(~missing)
    if len(present) and missing[present[0] : present[-1] + 1].any():
        raise LupusValidationError("series", NON_LEADING_NAS)
    if len(present) <= 2 * period:
        raise LupusValidationError(
            "series",
            f"series is not periodic or has less than two periods ({len(present)} values without NaN, period {period})",
        )
    kept = x[present]
    parts = stl_periodic_robust(kept, period)
    remainder = kept - parts.seasonal - np.median(kept)
    # R's trunc(num_obs * k), but robust to float rounding: with k = 1/n (R's raised floor)
    # n * (1/n) is 0.9999999999999999 for n = 49, 1243, 1882, ..., where R would stop with an error.
    max_outliers = int(num_obs * max_anoms + 1e-9)
    if max_outliers == 0:
        raise LupusValidationError(
            "max_anoms",
            f"allows no anomaly in a stretch of {num_obs} observations; "
            "with longterm, raise piecewise_median_period_weeks (or longterm_period)",
        )
    esd = hybrid_esd(remainder, max_outliers, alpha, direction)
    expected = np.full(num_obs, np.nan)
    expected[present] = np.trunc(parts.trend + parts.seasonal)
    score = np.full(num_obs, np.nan)
    score[present[esd.tested]] = esd.statistics
    is_anomaly = np.zeros(num_obs, dtype=bool)
    is_anomaly[present[esd.anomalies]] = True
    return ChunkAnomalies(expected=expected, score=score, is_anomaly=is_anomaly)
