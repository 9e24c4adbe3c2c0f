"""Time bookkeeping of Twitter's AnomalyDetection: granularity, longterm stretches, periodic maxima.

* Granularity (R's ``get_gran``): the gap between the last two timestamps, rounded to
  seconds: >= 1 day is ``"day"`` (period 7), >= 1 hour ``"hr"`` (24), >= 1 minute ``"min"``
  (1440), >= 1 second ``"sec"`` (summed per minute, then 1440); below a second is rejected.
* Longterm stretches (R's ``longterm=TRUE``): every ``period * 7 * weeks`` observations
  (``period * weeks + 1`` for daily data) a stretch of ``7 * weeks`` days (``7 * weeks + 1``)
  starts; a stretch that would run past the last timestamp is replaced by the last
  ``7 * weeks`` days (left-open), so the final stretches overlap.
* Positional stretches (R's ``longterm_period``): blocks of ``longterm_period`` points, the
  last one replaced by the final ``longterm_period`` points.

Example:
    >>> import pandas as pd
    >>> granularity(pd.date_range("2026-01-01", periods=3, freq="h"))
    'hr'
    >>> [len(c) for c in position_chunks(10, 4)]
    [4, 4, 4]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError

PERIODS = {"min": 1440, "hr": 24, "day": 7}
DAY = np.int64(86_400_000_000_000)
HOUR = np.int64(3_600_000_000_000)


def utc_nanoseconds(index: pd.DatetimeIndex) -> np.ndarray:
    """The index as int64 UTC nanoseconds (naive timestamps are taken as UTC)."""
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("ns").asi8


def granularity(index: pd.DatetimeIndex) -> str:
    """``"day"``, ``"hr"``, ``"min"`` or ``"sec"`` from the gap between the last two timestamps."""
    if len(index) < 2:
        raise LupusValidationError("series", "needs at least two timestamps to tell its granularity")
    ns = np.sort(utc_nanoseconds(index))
    seconds = round((ns[-1] - ns[-2]) / 1e9)
    if seconds >= 86_400:
        return "day"
    if seconds >= 3_600:
        return "hr"
    if seconds >= 60:
        return "min"
    if seconds >= 1:
        return "sec"
    raise LupusValidationError(
        "series.index", "timestamps less than a second apart are not supported (granularity 'ms')"
    )


def timestamp_chunks(index: pd.DatetimeIndex, period: int, gran: str, weeks: int) -> list[np.ndarray]:
    """Positions of each longterm stretch of a sorted timestamp index (R's ``longterm=TRUE`` split)."""
    if gran == "day":
        obs_per_chunk, days_per_chunk = period * weeks + 1, 7 * weeks + 1
    else:
        obs_per_chunk, days_per_chunk = period * 7 * weeks, 7 * weeks
    ns = utc_nanoseconds(index)
    span = days_per_chunk * DAY
    last = ns[-1]
    chunks = []
    for j in range(0, len(ns), obs_per_chunk):
        start = ns[j]
        end = min(start + span, last)
        if end - start == span:
            chunks.append(np.arange(np.searchsorted(ns, start, "left"), np.searchsorted(ns, end, "left")))
        else:
            chunks.append(np.arange(np.searchsorted(ns, last - span, "right"), len(ns)))
    return chunks


def position_chunks(n: int, longterm_period: int) -> list[np.ndarray]:
    """Positions of each stretch of ``longterm_period`` points (R's ``AnomalyDetectionVec`` split)."""
    chunks = []
    for j in range(0, n, longterm_period):
        end = min(j + longterm_period, n)
        if end - j == longterm_period:
            chunks.append(np.arange(j, end))
        else:
            chunks.append(np.arange(max(0, n - longterm_period), n))
    return chunks


def daily_maxima(values: np.ndarray, index: pd.DatetimeIndex) -> np.ndarray:
    """Maximum per UTC calendar day (NaN values ignored)."""
    days = utc_nanoseconds(index) // DAY
    return pd.Series(values).groupby(days).max().dropna().to_numpy()


def block_maxima(values: np.ndarray, period: int) -> np.ndarray:
    """Maximum of each consecutive block of ``period`` values (NaN values ignored)."""
    blocks = np.arange(len(values)) // period
    return pd.Series(values).groupby(blocks).max().dropna().to_numpy()


def last_stretch_start(index: pd.DatetimeIndex, only_last: str) -> np.int64:
    """Timestamps strictly after this (UTC ns) are in the last day (``"day"``) or hour (``"hr"``)."""
    return utc_nanoseconds(index)[-1] - (DAY if only_last == "day" else HOUR)
