"""Time for detectors: a series' sampling step, its seasonal period, durations, and regular slots.

* :func:`sampling_step`: the median gap between timestamps, snapped to the nearest common step
  (1 minute, 5 minutes, ..., 1 hour, 1 day, 1 week) when within 10 % of it.
* :func:`seasonal_period`: 7 for daily data (weekly pattern), one day's worth of points for
  sub-daily data whose step divides a day (24 for hourly), 1 (none) otherwise.
* :func:`parse_duration`: ``"14d"``, ``"6h"``, ``"30min"``, ``"2w"`` as nanoseconds.
* :func:`slots_of`: each timestamp's slot number on the step's grid, counted from Monday
  1970-01-05 00:00 UTC, so every run over the same data sees the same slots and phases.

Example:
    >>> days = pd.date_range("2026-01-05", periods=10, freq="D", tz="UTC")
    >>> step = sampling_step(days)
    >>> step == DAY_NS, seasonal_period(step)
    (True, 7)
    >>> parse_duration("14d") // DAY_NS, int(slots_of(days[:2], step)[0] % 7)
    (14, 0)
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError

MINUTE_NS = 60 * 10**9
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS
WEEK_NS = 7 * DAY_NS
# Monday 1970-01-05: slot 0 of every grid, so a weekly phase of 0 is a Monday.
ORIGIN_NS = 4 * DAY_NS
_COMMON_STEPS = tuple(
    minutes * MINUTE_NS for minutes in (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440, 10080)
)
_UNITS = {"s": 10**9, "min": MINUTE_NS, "m": MINUTE_NS, "h": HOUR_NS, "d": DAY_NS, "w": WEEK_NS}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)\s*$")


def utc_ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Timestamps as int64 UTC nanoseconds (naive ones are taken as UTC)."""
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("ns").asi8


def sampling_step(index: pd.DatetimeIndex) -> int:
    """The series' step in nanoseconds (median gap, snapped to a common step); one day for < 2 points."""
    ns = np.unique(utc_ns(index))
    if len(ns) < 2:
        return DAY_NS
    gap = float(np.median(np.diff(ns)))
    nearest = min(_COMMON_STEPS, key=lambda step: abs(np.log(gap / step)))
    return int(nearest) if abs(gap / nearest - 1) <= 0.1 else max(1, round(gap))


def seasonal_period(step_ns: int) -> int:
    """Points per season: a week of daily points, a day of sub-daily points; 1 when neither fits."""
    if step_ns == DAY_NS:
        return 7
    if step_ns < DAY_NS and DAY_NS % step_ns == 0 and DAY_NS // step_ns >= 2:
        return DAY_NS // step_ns
    return 1


def parse_duration(text: str) -> int:
    """``"14d"`` / ``"6h"`` / ``"30min"`` / ``"2w"`` / ``"90s"`` in nanoseconds; raises ``ValueError``."""
    match = _DURATION.match(str(text).lower())
    if not match:
        raise ValueError(f"a duration is a number and a unit (s, min, h, d, w), e.g. '14d' or '6h'; got {text!r}")
    amount = float(match.group(1)) * _UNITS[match.group(2)]
    if amount <= 0:
        raise ValueError(f"a duration must be positive, got {text!r}")
    return int(amount)


def describe_step(step_ns: int) -> str:
    """A step as text: ``1d``, ``1h``, ``5min``, ``1w`` or seconds."""
    for unit, size in (("w", WEEK_NS), ("d", DAY_NS), ("h", HOUR_NS), ("min", MINUTE_NS)):
        if step_ns % size == 0:
            return f"{step_ns // size}{unit}"
    return f"{step_ns / 1e9:g}s"


def slots_of(index: pd.DatetimeIndex, step_ns: int) -> np.ndarray:
    """Each timestamp's slot on the ``step_ns`` grid from :data:`ORIGIN_NS`; raises if two share a slot."""
    slots = (utc_ns(index) - ORIGIN_NS) // step_ns
    if len(slots) > 1 and (np.diff(np.sort(slots)) == 0).any():
        raise LupusValidationError(
            "ts", f"two points fall in the same {describe_step(step_ns)} slot: the series is not regularly sampled"
        )
    return slots


_EPOCH = date(1970, 1, 1)


def history_start(day: date, lookback_days: int) -> date:
    """The first day of history a run judging ``day`` reads: the start of the ``lookback_days``-long block
    (counted from 1970-01-01) holding ``day - lookback_days``.

    Days in the same block share their history start, so one pass judges them all and a day's verdict
    does not depend on how a request was cut; the history is ``lookback_days`` to ``2 x lookback_days
    - 1`` days long.

    >>> history_start(date(2026, 3, 10), 30), history_start(date(2026, 3, 11), 30)
    (datetime.date(2026, 2, 6), datetime.date(2026, 2, 6))
    """
    if lookback_days < 1:
        raise ValueError(f"lookback_days must be at least 1, got {lookback_days}")
    offset = (day - timedelta(days=lookback_days) - _EPOCH).days
    return _EPOCH + timedelta(days=offset - offset % lookback_days)
