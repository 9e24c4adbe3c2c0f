"""Rolling baseline: compare each point with the ``window`` points before it.

The baseline is the mean and standard deviation (``method="zscore"``) or the median
and scaled MAD (``method="mad"``, robust to earlier outliers) of the previous points;
the point itself never enters its own baseline. With ``same_weekday=True`` the
previous points are those on the same weekday (daily data with a weekly pattern: a
Monday is compared with earlier Mondays), or at the same position modulo ``period``
for a series indexed by position.

Example:
    >>> import pandas as pd
    >>> s = pd.Series([10.0, 11, 9, 10, 11, 9, 10, 30])
    >>> WindowDetector(window=7, min_history=5).detect(s)["is_anomaly"].tolist()
    [False, False, False, False, False, False, False, True]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field, model_validator

from lupus_metrics.detectors.bands import Direction, is_outside
from lupus_metrics.detectors.base import Detector, Verdict
from lupus_metrics.errors import LupusValidationError

# Scales the MAD to the standard deviation of normal data, so `threshold` means the same for both methods.
_MAD_TO_STD = 1.4826
_BLOCK_POINTS = 8_192


class WindowDetector(Detector):
    """Z-score of each point against a rolling baseline of the previous ``window`` points.

    ``expected`` is the baseline centre, ``lower``/``upper`` = centre ∓ ``threshold`` x spread,
    ``score`` the signed z-score. Points with fewer than ``min_history`` non-missing previous
    points are not judged (NaN band and score). A zero spread (a flat history) makes any
    change an anomaly.
    """

    kind: ClassVar[str] = "window"
    parallel: ClassVar[bool] = False  # a few numpy passes over all series: a pool only adds overhead

    window: int = Field(default=14, ge=2, description="How many previous points form the baseline.")
    method: Literal["zscore", "mad"] = Field(
        default="zscore", description="`zscore`: mean and standard deviation; `mad`: median and scaled MAD."
    )
    threshold: float = Field(default=3.0, gt=0, description="How many spreads from the centre a point may lie.")
    direction: Direction = Field(default="both", description="Which side is an anomaly: `both`, `up` or `down`.")
    min_history: int | None = Field(
        default=None, ge=2, description="Fewest non-missing previous points to judge a point (default: `window`)."
    )
    same_weekday: bool = Field(
        default=False, description="Baseline from the same weekday (or same position modulo `period`) only."
    )

    @model_validator(mode="after")
    def _history_fits_window(self) -> WindowDetector:
        if self.min_history is not None and self.min_history > self.window:
            raise ValueError(f"min_history ({self.min_history}) must not exceed window ({self.window})")
        return self

    def judge(self, series: pd.Series, *, period: int | None = None) -> Verdict:
        """Judge every point against its rolling baseline."""
        return self.judge_many([series], period=period)[0]

    def judge_many(self, series: Sequence[pd.Series], *, period: int | None = None) -> list[Verdict]:
        """Judge every point of every series, a few thousand points' worth of series per numpy pass."""
        verdicts: list[Verdict] = []
        block: list[pd.Series] = []
        size = 0
        for s in series:
            block.append(s)
            size += len(s)
            # Blocks of about 32k points keep the (points x window) work arrays in cache; one pass
            # over 730k points spent more time faulting in fresh memory than computing.
            if size >= _BLOCK_POINTS:
                verdicts += self._judge_block(block, period)
                block, size = [], 0
        return verdicts + (self._judge_block(block, period) if block else [])

    def _judge_block(self, series: Sequence[pd.Series], period: int | None) -> list[Verdict]:
        values = np.concatenate([s.to_numpy() for s in series])
        starts = np.cumsum([0, *(len(s) for s in series)])
        groups = [group + start for s, start in zip(series, starts, strict=False) for group in self._baseline_groups(s, period)]
        center, spread = self._baseline(_histories(values, groups, self.window))
        # A flat history has zero spread: keep the band at the centre and the score finite but huge.
        floor = 1e-12 * np.maximum(1.0, np.abs(center))
        with np.errstate(invalid="ignore"):
            score = (values - center) / np.maximum(spread, floor)
            score = np.where(values == center, 0.0, score)
        floats = np.column_stack(
            [values, center, center - self.threshold * spread, center + self.threshold * spread, score]
        )
        flags = is_outside(score, self.threshold, self.direction)
        return [Verdict(floats[a:b], flags[a:b]) for a, b in itertools.pairwise(starts)]

    def _baseline_groups(self, s: pd.Series, period: int | None) -> list[np.ndarray]:
        if not self.same_weekday:
            return [np.arange(len(s))]
        if isinstance(s.index, pd.DatetimeIndex):
            keys = s.index.dayofweek.to_numpy()
        elif period is not None:
            keys = np.arange(len(s)) % period
        else:
            raise LupusValidationError(
                "same_weekday", "needs a series indexed by timestamps, or an explicit period for a positional index"
            )
        return [np.flatnonzero(keys == key) for key in np.unique(keys)]

    def _baseline(self, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(history)
        center = np.full(n, np.nan)
        spread = np.full(n, np.nan)
        enough = np.count_nonzero(~np.isnan(history), axis=1) >= (self.min_history or self.window)
        rows = history[enough]
        if len(rows):
            if self.method == "mad":
                counts = np.count_nonzero(~np.isnan(rows), axis=1)
                center[enough] = _row_medians(rows, counts)
                spread[enough] = _MAD_TO_STD * _row_medians(np.abs(rows - center[enough, None]), counts)
            else:
                # The NaN-aware reductions are several times slower; most histories have no gaps.
                gaps = np.isnan(rows).any()
                center[enough] = (np.nanmean if gaps else np.mean)(rows, axis=1)
                spread[enough] = (np.nanstd if gaps else np.std)(rows, axis=1, ddof=1)
        return center, spread


def _row_medians(rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of each row's non-NaN values (``counts`` of them, at least one).

    Sorting short rows and picking the middle is several times faster than ``np.median``
    or ``np.nanmedian`` on windows of a few dozen points; NaN sorts last, so it handles gaps too.
    """
    ordered = np.sort(rows, axis=1)
    low = np.take_along_axis(ordered, ((counts - 1) // 2)[:, None], axis=1)[:, 0]
    high = np.take_along_axis(ordered, (counts // 2)[:, None], axis=1)[:, 0]
    return (low + high) / 2


def _histories(values: np.ndarray, groups: Sequence[np.ndarray], window: int) -> np.ndarray:
    """Row ``i`` holds the ``window`` values before ``values[i]`` within its group, NaN-padded.

    Each group (the positions of one series, or of one weekday of one series) is laid out after
    ``window`` NaNs, so one sliding window over the whole layout never reaches into another group.
    """
    order = np.concatenate(groups)
    group_of = np.repeat(np.arange(len(groups)), [len(group) for group in groups])
    slot = np.arange(len(order)) + window * (group_of + 1)
    padded = np.full(len(order) + window * len(groups), np.nan)
    padded[slot] = values[order]
    history = np.empty((len(values), window))
    history[order] = sliding_window_view(padded, window)[slot - window]
    return history
