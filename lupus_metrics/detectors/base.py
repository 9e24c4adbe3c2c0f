"""The one interface every anomaly detector implements.

A detector is a pydantic model (so product YAML can configure it, with errors that
name the parameter) with a ``detect(series)`` method. ``series`` is a pandas Series
of floats indexed by timestamps, or by position when the caller gives ``period``.
The result is a DataFrame indexed like the input with the columns of
:data:`RESULT_COLUMNS`; ``lower``/``upper`` are NaN where a detector has no band.

Example:
    >>> import pandas as pd
    >>> class AboveTen(Detector):
    ...     kind: ClassVar[str] = "above_ten"
    ...     def detect(self, series, *, period=None):
    ...         s = as_float_series(series)
    ...         return detection_frame(s, expected=None, lower=None, upper=10.0, score=s - 10, is_anomaly=s > 10)
    >>> AboveTen().detect(pd.Series([1.0, 11.0]))["is_anomaly"].tolist()
    [False, True]
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

RESULT_COLUMNS = ("value", "expected", "lower", "upper", "score", "is_anomaly")


class Detector(BaseModel):
    """Base class of all detectors. Subclasses set ``kind`` (the YAML name) and implement ``detect``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[str]

    def detect(self, series: pd.Series, *, period: int | None = None) -> pd.DataFrame:
        """Evaluate every point of ``series``; return a frame with :data:`RESULT_COLUMNS`."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """The detector's parameters, as recorded with every anomaly it reports."""
        return self.model_dump(mode="json")


def as_float_series(series: pd.Series) -> pd.Series:
    """``series`` as float64, index untouched; raises ``TypeError`` for non-Series input."""
    if not isinstance(series, pd.Series):
        raise TypeError(f"series must be a pandas Series, got {type(series).__name__}")
    return series if series.dtype == "float64" else series.astype("float64")


def detection_frame(
    series: pd.Series,
    *,
    expected: Any,
    lower: Any,
    upper: Any,
    score: Any,
    is_anomaly: Any,
) -> pd.DataFrame:
    """Assemble a detector result indexed like ``series``; ``None`` fills a column with NaN.

    ``is_anomaly`` NaN/None entries become False (a point that could not be judged is not an anomaly).
    """
    n = len(series)

    def column(values: Any) -> np.ndarray:
        if values is None:
            return np.full(n, np.nan)
        return np.broadcast_to(np.asarray(values, dtype="float64"), (n,))

    # One float block plus one bool column: detectors run on thousands of series, and building
    # the frame column by column cost as much as the detection itself.
    block = np.column_stack([series.to_numpy(dtype="float64"), *(column(v) for v in (expected, lower, upper, score))])
    frame = pd.DataFrame(block, index=series.index, columns=list(RESULT_COLUMNS[:5]), copy=False)
    frame["is_anomaly"] = _flags(is_anomaly, n)
    return frame


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
