"""Seasonal Hybrid ESD (S-H-ESD): Twitter's AnomalyDetection R package behind Lupus's detector interface.

Timestamped input follows R's ``AnomalyDetectionTs`` (granularity decides the period:
1440 minutely, 24 hourly, 7 daily; second-level data is summed per minute), positional
input follows ``AnomalyDetectionVec`` (the caller gives ``period``). The parameters and
defaults are R's; see ``docs/detectors/seasonal_esd.md`` for when to use which.

Output columns (one row per input row):

* ``expected``: R's ``e_value``, ``trunc(trend + seasonal)`` of the robust STL fit (NaN on NaN rows).
* ``score``: the ESD statistic ``R_i = |x - median| / MAD`` of the remainder (signed for
  ``"pos"``/``"neg"``) for each of the ``max_anoms * n`` points the test removed, NaN for the
  points it never reached. A point is anomalous when it was removed no later than the last
  step whose ``R_i`` beat Rosner's critical value, so a score alone does not decide.
* ``lower``/``upper``: NaN. S-H-ESD has no per-point band: its decision is sequential.
* ``is_anomaly``: R's anomalies after ``threshold`` and ``only_last`` filtering.

Example:
    >>> import numpy as np, pandas as pd
    >>> values = np.tile([10.0, 20.0, 30.0, 20.0], 10) + np.tile([0.3, -0.2, 0.1, -0.4, 0.2], 8)
    >>> values[17] = 90.0
    >>> result = SeasonalHybridESD(max_anoms=0.1).detect(pd.Series(values), period=4)
    >>> result.index[result["is_anomaly"]].tolist()
    [17]
    >>> float(result.loc[17, "expected"])
    19.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from lupus_metrics.detectors.base import Detector, Verdict, verdict
from lupus_metrics.detectors.esd_anoms import detect_anoms
from lupus_metrics.detectors.esd_calendar import (
    PERIODS,
    block_maxima,
    daily_maxima,
    granularity,
    last_stretch_start,
    position_chunks,
    timestamp_chunks,
    utc_nanoseconds,
)
from lupus_metrics.errors import LupusValidationError

QUANTILES = {"p95": 0.95, "p99": 0.99}


class SeasonalHybridESD(Detector):
    """Seasonal Hybrid ESD with the parameters and defaults of Twitter's AnomalyDetection.

    * ``max_anoms``: largest share of points that may be anomalous (0 to 0.49; R raises it to
      one point when smaller).
    * ``direction``: ``"pos"`` (spikes), ``"neg"`` (dips) or ``"both"``.
    * ``alpha``: significance level of each ESD step.
    * ``only_last``: report only the last ``"day"`` or ``"hr"`` (timestamped input; ``"hr"`` on
      daily data means the last day) or, with ``True``, the last period (positional input).
    * ``threshold``: keep only anomalies at or above the median (``"med_max"``), 95th (``"p95"``)
      or 99th (``"p99"``) percentile of the daily maxima (per-period maxima for positional input).
    * ``longterm`` (timestamped) / ``longterm_period`` (positional): detect on stretches of
      ``piecewise_median_period_weeks`` weeks / ``longterm_period`` points, for series longer
      than a month whose trend moves.
    """

    kind: ClassVar[str] = "seasonal_esd"

    max_anoms: float = Field(0.10, ge=0.0, le=0.49)
    direction: Literal["pos", "neg", "both"] = "pos"
    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    only_last: Literal["day", "hr"] | bool | None = None
    threshold: Literal["med_max", "p95", "p99"] | None = None
    longterm: bool = False
    piecewise_median_period_weeks: int = Field(2, ge=2)
    longterm_period: int | None = Field(None, gt=0)

    @field_validator("threshold", mode="before")
    @classmethod
    def _r_none(cls, value: object) -> object:
        # R spells "no threshold" as the string 'None'; accept it from YAML too.
        return None if value == "None" else value

    def judge(self, series: pd.Series, *, period: int | None = None) -> Verdict:
        """Flag anomalies of ``series``; a DatetimeIndex sets the period, otherwise ``period`` is required."""
        if isinstance(series.index, pd.DatetimeIndex):
            return self._detect_timestamped(series, period)
        return self._detect_positional(series, period)

    def _detect_timestamped(self, s: pd.Series, period: int | None) -> Verdict:
        if self.only_last is True:
            raise LupusValidationError("only_last", "for timestamped input use None, 'day' or 'hr'", value=True)
        if self.longterm_period is not None:
            raise LupusValidationError(
                "longterm_period", "applies to positional input; timestamped input uses longterm=True"
            )
        index = s.index
        if not index.is_unique or not index.is_monotonic_increasing:
            raise LupusValidationError("series.index", "timestamps must be unique and sorted ascending")
        gran = granularity(index)
        rows = np.arange(len(s))
        work = s
        if gran == "sec":
            minutes = index.floor("min")
            totals = s.groupby(minutes).sum()
            # R's sum() of a minute holding a NaN is NaN; pandas would skip it.
            totals[s.isna().groupby(minutes).any()] = np.nan
            work = totals
            rows = np.searchsorted(totals.index.asi8, minutes.asi8)
        derived = PERIODS["min" if gran == "sec" else gran]
        if period is not None and period != derived:
            raise LupusValidationError(
                "period",
                f"is derived from the timestamps for timestamped input ({gran} data has period {derived}); leave it None",
                value=period,
            )
        only_last = "day" if (gran == "day" and self.only_last == "hr") else self.only_last
        values = work.to_numpy(dtype="float64")
        if self.longterm:
            chunks = timestamp_chunks(work.index, derived, gran, self.piecewise_median_period_weeks)
        else:
            chunks = [np.arange(len(values))]
        threshold = self._threshold_of(daily_maxima(values, work.index)) if self.threshold else None
        expected, score, flags = self._run(values, chunks, derived, lambda _chunk: threshold)
        if only_last:
            flags &= utc_nanoseconds(work.index) > last_stretch_start(work.index, only_last)
        return verdict(s, expected=expected[rows], lower=None, upper=None, score=score[rows], is_anomaly=flags[rows])

    def _detect_positional(self, s: pd.Series, period: int | None) -> Verdict:
        if period is None:
            raise LupusValidationError(
                "period", "is required for a series without a DatetimeIndex: the number of points in one season"
            )
        if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 2:
            raise LupusValidationError("period", "must be an integer >= 2", value=period)
        if isinstance(self.only_last, str):
            raise LupusValidationError(
                "only_last", "for positional input use True or False (None)", value=self.only_last
            )
        if self.longterm:
            raise LupusValidationError(
                "longterm", "applies to timestamped input; for positional input set longterm_period"
            )
        period = int(period)
        values = s.to_numpy(dtype="float64")
        n = len(values)
        chunks = position_chunks(n, self.longterm_period) if self.longterm_period else [np.arange(n)]

        def chunk_threshold(chunk: np.ndarray) -> float | None:
            return self._threshold_of(block_maxima(values[chunk], period)) if self.threshold else None

        expected, score, flags = self._run(values, chunks, period, chunk_threshold)
        if self.only_last:
            flags[: max(0, n - period)] = False
        return verdict(s, expected=expected, lower=None, upper=None, score=score, is_anomaly=flags)

    def _threshold_of(self, maxima: np.ndarray) -> float:
        if self.threshold == "med_max":
            return float(np.median(maxima))
        return float(np.quantile(maxima, QUANTILES[str(self.threshold)]))

    def _run(
        self,
        values: np.ndarray,
        chunks: list[np.ndarray],
        period: int,
        threshold_of: Callable[[np.ndarray], float | None],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detect on every stretch; the first stretch that covers a point gives its expected value and score."""
        n = len(values)
        max_anoms = max(self.max_anoms, 1.0 / n) if n else self.max_anoms
        expected = np.full(n, np.nan)
        score = np.full(n, np.nan)
        flags = np.zeros(n, dtype=bool)
        covered = np.zeros(n, dtype=bool)
        for chunk in chunks:
            found = detect_anoms(
                values[chunk], period=period, max_anoms=max_anoms, alpha=self.alpha, direction=self.direction
            )
            anomalies = found.is_anomaly
            threshold = threshold_of(chunk)
            if threshold is not None:
                with np.errstate(invalid="ignore"):
                    anomalies = anomalies & (values[chunk] >= threshold)
            flags[chunk] |= anomalies
            fresh = ~covered[chunk]
            expected[chunk[fresh]] = found.expected[fresh]
            unscored = np.isnan(score[chunk])
            score[chunk[unscored]] = found.score[unscored]
            covered[chunk] = True
        return expected, score, flags
