"""Regime changes: level shifts (``shift="level"``) or trend breaks (``shift="trend"``).

The series is segmented with `ruptures <https://centre-borelli.github.io/ruptures-docs/>`_
(exact PELT on a least-squares cost for levels; binary segmentation on a
piecewise-linear regression cost for trends). The first point of every new regime is the
anomaly: after a release changes a metric for good, one alert fires, not one a day.
Runs shorter than about ``min_size / 2`` points are spikes, not regimes: they are
replaced by a rolling median before segmenting (use a window detector for spikes).

The penalty is ``penalty x sigma² x log(n)`` where sigma is a robust noise estimate
(scaled MAD of first differences, which a shift barely moves; for a stepped metric whose
differences are mostly zero, their mean absolute deviation), so ``penalty`` is unit-free:
larger means fewer, bigger changes.

Example:
    >>> import pandas as pd
    >>> s = pd.Series([10.0, 10.2, 9.9, 10.1, 9.8, 10.0, 10.1, 15.0, 15.2, 14.9, 15.1, 14.8, 15.0, 15.1])
    >>> out = ChangePointDetector(min_size=5).detect(s)
    >>> out.index[out["is_anomaly"]].tolist()
    [7]
"""

from __future__ import annotations

import itertools
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from lupus_metrics.detectors.bands import Direction
from lupus_metrics.detectors.base import Detector, Verdict, verdict
from lupus_metrics.detectors.noise import FLAT_FLOOR, series_scale

_MAD_TO_STD = 1.4826
_MEAN_AD_TO_STD = 1.2533
# Distance from the rolling median, in noise deviations, beyond which a point counts as a spike.
_SPIKE_SIGMAS = 3.0


class ChangePointDetector(Detector):
    """Marks the first point of each new regime; ``expected`` is the fitted regime (mean or line).

    ``lower``/``upper`` are NaN (no band). ``score`` is 0 except on change points, where it is the
    signed gap between the new regime and the old one extrapolated, averaged over the new regime,
    in noise standard deviations.
    """

    kind: ClassVar[str] = "change_point"

    shift: Literal["level", "trend"] = Field(
        default="level", description="`level`: mean shifts; `trend`: slope breaks."
    )
    penalty: float = Field(default=5.0, gt=0, description="Cost of one more change point, in sigma² x log(n).")
    min_size: int = Field(default=7, ge=2, description="Shortest regime, in points.")
    min_score: float = Field(default=0.0, ge=0, description="Ignore changes whose |score| is below this.")
    direction: Direction = Field(default="both", description="Which changes count: `both`, `up` or `down`.")

    def judge(self, series: pd.Series, *, period: int | None = None) -> Verdict:
        """Segment the non-missing points and mark where each new regime starts."""
        values = series.to_numpy()
        observed = np.flatnonzero(~np.isnan(values))
        y = values[observed]
        expected = np.full(len(series), np.nan)
        score = np.full(len(series), np.nan)
        if len(y) == 0:
            return verdict(series, expected=expected, lower=None, upper=None, score=score, is_anomaly=None)
        y = self._without_spikes(y)
        starts = self._regime_starts(observed, y)
        bounds = [0, *starts, len(y)]
        fits = [self._fit(observed[a:b], y[a:b]) for a, b in itertools.pairwise(bounds)]
        sigma = _noise_sigma(y)
        score[observed] = 0.0
        for (a, b), fit in zip(itertools.pairwise(bounds), fits, strict=True):
            expected[observed[a:b]] = np.polyval(fit, observed[a:b])
        for i, start in enumerate(starts):
            head = observed[start : bounds[i + 2]]
            gap = np.mean(np.polyval(fits[i + 1], head) - np.polyval(fits[i], head))
            score[observed[start]] = gap / sigma
        with np.errstate(invalid="ignore"):
            flagged = np.zeros(len(series), dtype=bool)
            flagged[observed[starts]] = True
            size_ok = np.abs(score) >= max(self.min_score, np.finfo(float).tiny)
            side_ok = {"both": True, "up": score > 0, "down": score < 0}[self.direction]
        return verdict(
            series, expected=expected, lower=None, upper=None, score=score, is_anomaly=flagged & size_ok & side_ok
        )

    def _without_spikes(self, y: np.ndarray) -> np.ndarray:
        # Runs shorter than half a regime are spikes, not regimes: replace them with the rolling median
        # so that one bad day does not open (and close) a regime of its own.
        window = self.min_size | 1
        baseline = pd.Series(y).rolling(window, center=True, min_periods=1).median().to_numpy()
        sigma = _noise_sigma(y)
        return np.where(np.abs(y - baseline) > _SPIKE_SIGMAS * sigma, baseline, y) if sigma > 0 else y

    def _regime_starts(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if len(y) < 2 * self.min_size:
            return np.array([], dtype=int)
        sigma = _noise_sigma(y)
        # A noiseless series still needs a positive penalty, or every split would be free.
        scale = sigma**2 if sigma > 0 else 1e-12 * max(1.0, float(np.mean(y**2)))
        pen = self.penalty * scale * np.log(len(y))
        import ruptures  # imported here: it pulls in scipy.stats, which would slow every product definition load

        if self.shift == "level":
            algo = ruptures.KernelCPD(kernel="linear", min_size=self.min_size)
        else:
            # CostLinear regresses column 0 on the others: here a line in time (slope and intercept).
            algo = ruptures.Binseg(model="linear", min_size=self.min_size)
            y = np.column_stack([y, (x - x[0]) / max(1, x[-1] - x[0]), np.ones(len(y))])
        ends = algo.fit(y).predict(pen=pen)
        return np.asarray(ends[:-1], dtype=int)

    def _fit(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        degree = 1 if self.shift == "trend" and len(y) >= 2 else 0
        return np.polyfit(x.astype("float64"), y, degree)


def _noise_sigma(y: np.ndarray) -> float:
    """Robust noise level from first differences (a shift moves one difference, not their spread).

    The scaled MAD of the differences, divided by sqrt(2); when more than half the differences are
    zero (a stepped metric that mostly repeats its value) the MAD is 0 and the scaled mean absolute
    difference stands in; a series that never moves gets a tiny fraction of its scale, so scores stay
    finite.
    """
    if len(y) < 3:
        return 0.0
    diffs = np.diff(y)
    deviations = np.abs(diffs - np.median(diffs))
    sigma = _MAD_TO_STD * np.median(deviations)
    if sigma == 0:
        sigma = _MEAN_AD_TO_STD * float(np.mean(deviations))
    if sigma == 0:
        sigma = FLAT_FLOOR * series_scale(y)
    return float(sigma / np.sqrt(2))
