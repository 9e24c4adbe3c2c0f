"""The one interface every anomaly detector implements.

A detector is a pydantic model (so product YAML can configure it, with errors that
name the parameter) with a ``detect(series)`` method. ``series`` is a pandas Series
of floats indexed by timestamps, or by position when the caller gives ``period``.
The result is a DataFrame indexed like the input with the columns of
:data:`RESULT_COLUMNS`; ``lower``/``upper`` are NaN where a detector has no band.

Built-in detectors implement ``judge`` (returning a :class:`Verdict` of plain arrays) and
inherit ``detect``, which wraps the verdict in that DataFrame. The batch runner calls
``judge`` directly: over thousands of short series, building a DataFrame per series cost
more than the detection itself. A custom detector may implement either method.

Detectors that set ``uses_series_info`` also receive a
:class:`~lupus_metrics.detectors.noise.SeriesInfo` (``info=``): the points' ``stderr`` and
``n``, the points to leave out of baselines, and the metric's valid range.

Example:
    >>> import pandas as pd
    >>> class AboveTen(Detector):
    ...     kind: ClassVar[str] = "above_ten"
    ...     def judge(self, series, *, period=None):
    ...         return verdict(series, expected=None, lower=None, upper=10.0, score=series - 10, is_anomaly=series > 10)
    >>> AboveTen().detect(pd.Series([1.0, 11.0]))["is_anomaly"].tolist()
    [False, True]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from lupus_metrics.detectors.noise import SeriesInfo

RESULT_COLUMNS = ("value", "expected", "lower", "upper", "score", "is_anomaly")


class Detector(BaseModel):
    """Base class of all detectors. Subclasses set ``kind`` (the YAML name) and implement ``detect``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[str]
    #: Whether ``detect_many`` should spread this detector's series over processes by default.
    #: Vectorised detectors that judge thousands of series in milliseconds set it False: forking
    #: and shipping series to workers would cost more than the detection.
    parallel: ClassVar[bool] = True
    #: Whether each point is judged from earlier points only (never from later ones): then one pass over
    #: a history gives every day the verdict a run ending on that day would give. In-sample fits and
    #: hindsight detectors are not causal; detection over stored history runs them once per day.
    causal: ClassVar[bool] = False
    #: Whether ``judge``/``judge_many``/``detect`` take ``info`` (:class:`SeriesInfo`): the points'
    #: standard errors, exclusions and valid range. Custom detectors without it are called without.
    uses_series_info: ClassVar[bool] = False

    def detect(self, series: pd.Series, *, period: int | None = None, info: SeriesInfo | None = None) -> pd.DataFrame:
        """Evaluate every point of ``series``; return a frame with :data:`RESULT_COLUMNS`.

        ``info`` (used by detectors with ``uses_series_info``) is aligned with ``series``.
        """
        s = as_float_series(series)
        if self.uses_series_info:
            return self.judge(s, period=period, info=info).frame(s.index)
        return self.judge(s, period=period).frame(s.index)

    def judge(self, series: pd.Series, *, period: int | None = None, info: SeriesInfo | None = None) -> Verdict:
        """Evaluate every point of the float64 ``series``; return the columns as arrays.

        The default calls ``detect``, for custom detectors that implement only that.
        """
        if type(self).detect is Detector.detect:
            raise NotImplementedError(f"{type(self).__name__} must implement judge() or detect()")
        if self.uses_series_info:
            return Verdict.of_frame(self.detect(series, period=period, info=info))
        return Verdict.of_frame(self.detect(series, period=period))

    def judge_many(
        self,
        series: Sequence[pd.Series],
        *,
        period: int | None = None,
        infos: Sequence[SeriesInfo | None] | None = None,
    ) -> list[Verdict]:
        """``judge`` of each float64 series, in order. Detectors whose work is a few array operations
        per series override it with one pass over all of them (the per-call overhead of numpy on a
        730-point series is most of the cost); an error in any series may fail the whole call.
        """
        if not self.uses_series_info:
            return [self.judge(s, period=period) for s in series]
        infos = infos if infos is not None else [None] * len(series)
        return [self.judge(s, period=period, info=i) for s, i in zip(series, infos, strict=True)]

    def params(self) -> dict[str, Any]:
        """The detector's parameters, as recorded with every anomaly it reports."""
        return self.model_dump(mode="json")


def as_float_series(series: pd.Series) -> pd.Series:
    """``series`` as float64, index untouched; raises ``TypeError`` for non-Series input."""
    if not isinstance(series, pd.Series):
        raise TypeError(f"series must be a pandas Series, got {type(series).__name__}")
    return series if series.dtype == "float64" else series.astype("float64")


@dataclass(frozen=True)
class Verdict:
    """A detector's judgement of every point of a series: ``floats`` is an n x 5 array with the
    columns ``value, expected, lower, upper, score`` (NaN where absent), ``is_anomaly`` n booleans.

    Optional, for the anomaly records' ``params`` (what an alert needs to be explained):
    ``thresholds``, an n x 3 array of the calibrated point, shift (run) and sum (accumulated-evidence)
    thresholds each point was judged with (NaN where none), and ``details``, facts about the whole series (such as the
    detected period).
    """

    floats: np.ndarray
    is_anomaly: np.ndarray
    thresholds: np.ndarray | None = None
    details: Mapping[str, Any] | None = None

    def frame(self, index: pd.Index) -> pd.DataFrame:
        """The verdict as the DataFrame ``detect`` returns, indexed by ``index``."""
        # One float block plus one bool column: building the frame column by column cost as much
        # as the detection itself.
        frame = pd.DataFrame(self.floats, index=index, columns=list(RESULT_COLUMNS[:5]), copy=False)
        frame["is_anomaly"] = self.is_anomaly
        return frame

    @classmethod
    def of_frame(cls, frame: pd.DataFrame) -> Verdict:
        """The verdict held by a ``detect`` result."""
        return cls(frame[list(RESULT_COLUMNS[:5])].to_numpy(dtype="float64"), _flags(frame["is_anomaly"], len(frame)))


def verdict(
    series: pd.Series,
    *,
    expected: Any,
    lower: Any,
    upper: Any,
    score: Any,
    is_anomaly: Any,
    threshold: Any = None,
    shift_threshold: Any = None,
    sum_threshold: Any = None,
    details: Mapping[str, Any] | None = None,
) -> Verdict:
    """Assemble a :class:`Verdict` for ``series``; ``None`` fills a column with NaN, scalars broadcast.

    ``is_anomaly`` NaN/None entries become False (a point that could not be judged is not an anomaly).
    ``threshold``/``shift_threshold``/``sum_threshold`` (the calibrated thresholds used) and ``details`` are
    optional.
    """
    n = len(series)
    floats = np.empty((n, 5))
    floats[:, 0] = series.to_numpy(dtype="float64")
    for position, values in enumerate((expected, lower, upper, score), start=1):
        floats[:, position] = np.nan if values is None else np.asarray(values, dtype="float64")
    thresholds = None
    if threshold is not None or shift_threshold is not None or sum_threshold is not None:
        thresholds = np.empty((n, 3))
        for position, values in enumerate((threshold, shift_threshold, sum_threshold)):
            thresholds[:, position] = np.nan if values is None else np.asarray(values, dtype="float64")
    return Verdict(floats, _flags(is_anomaly, n), thresholds, dict(details) if details else None)


def detection_frame(
    series: pd.Series, *, expected: Any, lower: Any, upper: Any, score: Any, is_anomaly: Any
) -> pd.DataFrame:
    """:func:`verdict` as the DataFrame ``detect`` returns, indexed like ``series``."""
    return verdict(series, expected=expected, lower=lower, upper=upper, score=score, is_anomaly=is_anomaly).frame(
        series.index
    )


def _flags(is_anomaly: Any, n: int) -> np.ndarray:
    # NaN/None (a point that could not be judged) is not an anomaly.
    if is_anomaly is None:
        return np.zeros(n, dtype=bool)
    raw = np.asarray(is_anomaly)
    if raw.dtype == bool:
        flags = raw
    elif raw.dtype.kind == "f":
        flags = np.nan_to_num(raw, nan=0.0) != 0
    else:
        flags = np.array([False if pd.isna(v) else bool(v) for v in np.ravel(raw)], dtype=bool).reshape(raw.shape)
    return np.broadcast_to(flags, (n,)).copy()
