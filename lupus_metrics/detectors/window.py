"""Rolling baseline: compare each point with the ``window`` points before it.

The baseline is the mean and standard deviation (``method="zscore"``) or the median
and scaled MAD (``method="mad"``, robust to earlier outliers) of the previous points;
the point itself never enters its own baseline. With ``same_weekday=True`` the
previous points are those on the same weekday (daily data with a weekly pattern: a
Monday is compared with earlier Mondays), or at the same position modulo ``period``
for a series indexed by position. ``window`` is a number of points or a duration
(``14d``, ``6h``) converted to points with the series' sampling step.

Baselines stay free of incidents: a flagged point, and a point the caller excluded (a day
whose blocking check failed), is left out of every later baseline; the baseline then reaches
further back (the last ``window`` usable points within twice the window). A run of flagged points
on the same side longer than half a window is a lasting change, not an incident: from the
point where the run reaches that length, its points re-enter the baselines, so the new
level becomes the normal one.

The spread never falls below a floor: the point's ``stderr``, ``min_delta / threshold`` and
``min_relative_delta x |expected| / threshold`` when given, and a tiny fraction of the series'
scale (a zero MAD on a stepped metric falls back to the mean absolute deviation first).

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
from pydantic import Field, field_validator, model_validator

from lupus_metrics.detectors.bands import Direction, is_outside
from lupus_metrics.detectors.base import Detector, Verdict
from lupus_metrics.detectors.noise import NoiseFloor, SeriesInfo, excluded_of, floored_spread, stderr_of
from lupus_metrics.detectors.timing import parse_duration, sampling_step
from lupus_metrics.errors import LupusValidationError

# Scales the MAD to the standard deviation of normal data, so `threshold` means the same for both methods.
_MAD_TO_STD = 1.4826
# ... and the mean absolute deviation, the fallback when more than half the history is one value.
_MEAN_AD_TO_STD = 1.2533
_BLOCK_POINTS = 8_192
# Flags depend on earlier flags (flagged points leave later baselines); the verdicts are the fixed point,
# reached in a few rounds. A bound keeps a pathological series from looping long.
_MAX_ROUNDS = 50


class WindowDetector(Detector, NoiseFloor):
    """Z-score of each point against a rolling baseline of the previous ``window`` points.

    ``expected`` is the baseline centre, ``lower``/``upper`` = centre ∓ ``threshold`` x spread,
    ``score`` the signed z-score. Points with fewer than ``min_history`` non-missing previous
    points are not judged (NaN band and score).
    """

    kind: ClassVar[str] = "window"
    parallel: ClassVar[bool] = False  # a few numpy passes over all series: a pool only adds overhead
    causal: ClassVar[bool] = True
    uses_series_info: ClassVar[bool] = True

    window: int | str = Field(
        default=14, description="Previous points that form the baseline: a count (>= 2) or a duration like `14d`."
    )
    method: Literal["zscore", "mad"] = Field(
        default="zscore", description="`zscore`: mean and standard deviation; `mad`: median and scaled MAD."
    )
    threshold: float = Field(default=3.0, gt=0, description="How many spreads from the centre a point may lie.")
    direction: Direction = Field(default="both", description="Which side is an anomaly: `both`, `up` or `down`.")
    min_history: int | str | None = Field(
        default=None, description="Fewest non-missing previous points to judge a point (default: `window`)."
    )
    same_weekday: bool = Field(
        default=False, description="Baseline from the same weekday (or same position modulo `period`) only."
    )

    @field_validator("window", "min_history")
    @classmethod
    def _points_or_duration(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, str):
            if value.strip().isdigit():
                value = int(value)
            else:
                parse_duration(value)  # raises ValueError with the accepted forms
                return value.strip()
        if value is not None and value < 2:
            raise ValueError("Input should be greater than or equal to 2")
        return value

    @model_validator(mode="after")
    def _history_fits_window(self) -> WindowDetector:
        window, history = self.window, self.min_history
        if isinstance(window, int) and isinstance(history, int) and history > window:
            raise ValueError(f"min_history ({history}) must not exceed window ({window})")
        if isinstance(window, str) and isinstance(history, str) and parse_duration(history) > parse_duration(window):
            raise ValueError(f"min_history ({history}) must not exceed window ({window})")
        return self

    def judge(self, series: pd.Series, *, period: int | None = None, info: SeriesInfo | None = None) -> Verdict:
        """Judge every point against its rolling baseline."""
        return self.judge_many([series], period=period, infos=[info])[0]

    def judge_many(
        self,
        series: Sequence[pd.Series],
        *,
        period: int | None = None,
        infos: Sequence[SeriesInfo | None] | None = None,
    ) -> list[Verdict]:
        """Judge every point of every series, a few thousand points' worth of series per numpy pass."""
        infos = list(infos) if infos is not None else [None] * len(series)
        by_size: dict[tuple[int, int], list[int]] = {}
        for position, s in enumerate(series):
            by_size.setdefault(self.points_of(s), []).append(position)
        verdicts: list[Verdict | None] = [None] * len(series)
        for (window, history), members in by_size.items():
            block: list[int] = []
            size = 0
            for position in [*members, None]:
                # Blocks of about 8k points keep the (points x window) work arrays in cache; one pass over
                # 730k points spent more time faulting in fresh memory than computing.
                if position is None or size >= _BLOCK_POINTS:
                    if block:
                        judged = self._judge_block([series[p] for p in block], [infos[p] for p in block],
                                                   period, window, history)  # fmt: skip
                        for p, v in zip(block, judged, strict=True):
                            verdicts[p] = v
                    block, size = [], 0
                if position is not None:
                    block.append(position)
                    size += len(series[position])
        return [v for v in verdicts if v is not None]

    def points_of(self, s: pd.Series) -> tuple[int, int]:
        """``window`` and ``min_history`` in points for ``s`` (durations divided by its sampling step)."""

        def points(value: int | str) -> int:
            if isinstance(value, int):
                return value
            if not isinstance(s.index, pd.DatetimeIndex):
                raise LupusValidationError(
                    "window", "a duration needs a series indexed by timestamps; give a number of points", value=value
                )
            return max(2, round(parse_duration(value) / sampling_step(s.index)))

        window = points(self.window)
        return window, min(window, points(self.min_history)) if self.min_history is not None else window

    def _judge_block(
        self,
        series: Sequence[pd.Series],
        infos: Sequence[SeriesInfo | None],
        period: int | None,
        window: int,
        min_history: int,
    ) -> list[Verdict]:
        values = np.concatenate([s.to_numpy() for s in series])
        starts = np.cumsum([0, *(len(s) for s in series)])
        stderr = np.concatenate([stderr_of(i, len(s)) for s, i in zip(series, infos, strict=True)])
        excluded = np.concatenate([excluded_of(i, len(s)) for s, i in zip(series, infos, strict=True)])
        lengths = np.diff(starts)
        magnitude = np.where(np.isfinite(values), np.abs(values), 0.0)
        nonempty = lengths > 0
        scale = np.ones(len(series))
        scale[nonempty] = np.add.reduceat(magnitude, starts[:-1][nonempty]) / lengths[nonempty]
        scale = np.repeat(np.where(scale > 0, scale, 1.0), lengths)
        owner = np.repeat(np.arange(len(series)), [len(s) for s in series])
        groups = [
            group + start
            for s, start in zip(series, starts, strict=False)
            for group in self._baseline_groups(s, period)
        ]
        layout = _Layout(groups, len(values), 2 * window)
        unusable = np.isnan(values) | excluded
        center, spread = np.full(len(values), np.nan), np.full(len(values), np.nan)
        # First round: no flags yet. Most rows have `window` usable points right before them and take those.
        recent = layout.sources(np.arange(len(values)), window)
        whole = (recent >= 0).all(axis=1)
        if unusable.any():
            whole &= ~unusable[np.maximum(recent, 0)].any(axis=1)
        rows = np.flatnonzero(whole)
        center[rows], spread[rows] = self._baseline(values[recent[rows]], min_history, gaps=False)
        flags = np.zeros(len(values), dtype=bool)
        stale = ~whole  # rows whose baseline must look further back (or see flagged points)
        seen = np.zeros(len(values), dtype=bool)  # points flagged in any round so far
        score_sign = np.zeros(len(values))
        for _ in range(_MAX_ROUNDS):
            rows = np.flatnonzero(stale)
            if len(rows):
                center[rows], spread[rows] = self._reaching_back(values, unusable, flags, owner, window,
                                                                 min_history, layout, rows, score_sign)  # fmt: skip
            floor = floored_spread(
                spread, center, stderr=stderr, min_delta=self.min_delta, min_relative_delta=self.min_relative_delta,
                threshold=self.threshold, scale=np.maximum(np.abs(center), scale),
            )  # fmt: skip
            with np.errstate(invalid="ignore"):
                score = (values - center) / floor
            score_sign = np.sign(np.nan_to_num(score))
            new_flags = is_outside(score, self.threshold, "both")
            if np.array_equal(new_flags, flags):
                break
            flags = new_flags
            seen |= flags
            # Only rows that see a point flagged in some round can change.
            stale = layout.counts(seen, 2 * window) > 0
            if not stale.any():
                break
        spread = floor
        floats = np.column_stack(
            [values, center, center - self.threshold * spread, center + self.threshold * spread, score]
        )
        alerts = is_outside(score, self.threshold, self.direction)
        return [Verdict(floats[a:b], alerts[a:b]) for a, b in itertools.pairwise(starts)]

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

    def _reaching_back(
        self, values: np.ndarray, unusable: np.ndarray, flags: np.ndarray, owner: np.ndarray, window: int,
        min_history: int, layout: _Layout, rows: np.ndarray, side: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Centre and raw spread of ``rows`` from the last ``window`` usable points among the 2 x window
        before each: missing and excluded points are skipped, and so are flagged points until their
        run of same-side flags is a lasting change (see :func:`_readmission`)."""
        source = layout.sources(rows, 2 * window)
        valid = source >= 0
        source = np.maximum(source, 0)
        usable = valid & ~unusable[source]
        if flags.any():
            readmitted_at = _readmission(flags, side, owner, window // 2 + 1)
            usable &= ~(flags[source] & (readmitted_at[source] >= rows[:, None]))
        usable &= np.cumsum(usable[:, ::-1], axis=1)[:, ::-1] <= window
        return self._baseline(np.where(usable, values[source], np.nan), min_history, gaps=True)

    def _baseline(self, history: np.ndarray, min_history: int, *, gaps: bool) -> tuple[np.ndarray, np.ndarray]:
        n = len(history)
        center = np.full(n, np.nan)
        spread = np.full(n, np.nan)
        counts = np.count_nonzero(~np.isnan(history), axis=1) if gaps else np.full(n, history.shape[1])
        enough = counts >= min_history
        rows = history[enough] if not enough.all() else history
        if len(rows):
            counts = counts[enough]
            if self.method == "mad":
                center[enough] = _row_medians(rows, counts)
                deviations = np.abs(rows - center[enough, None])
                mad = _MAD_TO_STD * _row_medians(deviations, counts)
                flat = mad == 0
                if flat.any():
                    # A stepped metric: more than half the history is one value and its MAD is 0.
                    mad[flat] = _MEAN_AD_TO_STD * np.nanmean(deviations[flat], axis=1)
                spread[enough] = mad
            elif gaps:
                center[enough] = np.nanmean(rows, axis=1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    spread[enough] = np.nanstd(rows, axis=1, ddof=1)
            else:
                center[enough] = rows.mean(axis=1)
                spread[enough] = rows.std(axis=1, ddof=1)
        return center, spread


def _readmission(flags: np.ndarray, side: np.ndarray, owner: np.ndarray, length: int) -> np.ndarray:
    """For each flagged point, the position from which it re-enters baselines: where its run of
    same-side flags (within one series) reaches ``length`` points; ``len(flags)`` (never) if it does not.
    """
    n = len(flags)
    out = np.full(n, n, dtype=np.int64)
    if not flags.any():
        return out
    signed = np.where(flags, side, 0.0)
    boundary = np.r_[True, (signed[1:] != signed[:-1]) | (owner[1:] != owner[:-1])]
    run_id = np.cumsum(boundary) - 1
    run_start = np.flatnonzero(boundary)
    run_length = np.diff(np.r_[run_start, n])
    lasting = (run_length >= length) & (signed[run_start] != 0)
    reached = np.where(lasting, run_start + length - 1, n)
    return np.where(flags, reached[run_id], n)


class _Layout:
    """The baseline groups laid out one after another, each after ``pad`` empty slots (-1), so the
    ``k`` positions before any point within its group are one slice of the layout."""

    def __init__(self, groups: Sequence[np.ndarray], size: int, pad: int) -> None:
        order = np.concatenate(groups) if groups else np.empty(0, np.int64)
        group_of = np.repeat(np.arange(len(groups)), [len(group) for group in groups])
        self.slot = np.empty(size, dtype=np.int64)
        self.slot[order] = np.arange(len(order)) + pad * (group_of + 1)
        self.positions = np.full(len(order) + pad * len(groups), -1, dtype=np.int64)
        self.positions[self.slot[order]] = order

    def sources(self, rows: np.ndarray, k: int) -> np.ndarray:
        """Positions of the ``k`` points before each of ``rows`` in its group (-1 before the group's start)."""
        return self.positions[self.slot[rows, None] - k + np.arange(k)]

    def counts(self, marked: np.ndarray, k: int) -> np.ndarray:
        """For every point, how many of the ``k`` points before it in its group are ``marked``."""
        laid = np.zeros(len(self.positions) + 1, dtype=np.int64)
        laid[1:] = np.cumsum(np.where(self.positions >= 0, marked[np.maximum(self.positions, 0)], False))
        return laid[self.slot] - laid[self.slot - k]


def _row_medians(rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of each row's non-NaN values (``counts`` of them, at least one).

    Sorting short rows and picking the middle is several times faster than ``np.median``
    or ``np.nanmedian`` on windows of a few dozen points; NaN sorts last, so it handles gaps too.
    """
    ordered = np.sort(rows, axis=1)
    low = np.take_along_axis(ordered, ((counts - 1) // 2)[:, None], axis=1)[:, 0]
    high = np.take_along_axis(ordered, (counts // 2)[:, None], axis=1)[:, 0]
    return (low + high) / 2
