"""Replay a series as if detection had run every ``step`` points, to tune a detector before enabling it.

Run *k* sees only the history up to its day and judges every point it sees. With
``lookback``, a run's history starts where the anomalies asset's would
(:func:`~lupus_metrics.detectors.timing.history_start`: calendar days for daily data, blocks of
``lookback`` points otherwise), so a replayed day is judged exactly as the live run judged it. An alert is raised the first time
a point from ``warmup`` on is flagged; later runs flagging the same point again are
de-duplicated, as the alert sensor does. So a detector that needs hindsight (a
change point is only visible some points after it happened) raises its alert
late, and the report shows how late.

Example:
    >>> import pandas as pd
    >>> s = pd.Series([10.0, 11, 9, 10, 11, 9, 10, 30, 10, 11], index=pd.date_range("2026-01-01", periods=10))
    >>> report = backtest(s, WindowDetector(window=5), warmup=5)
    >>> report.runs, len(report.alerts)
    (5, 1)
    >>> report.alerts.index.strftime("%Y-%m-%d").tolist(), report.alerts["delay"].tolist()
    (['2026-01-08'], [0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lupus_metrics.detectors.base import Detector, as_float_series
from lupus_metrics.detectors.timing import DAY_NS, history_start, sampling_step
from lupus_metrics.detectors.window import WindowDetector  # noqa: F401  (used by the doctest)
from lupus_metrics.errors import LupusValidationError


@dataclass(frozen=True)
class BacktestReport:
    """What replayed detection would have done.

    ``alerts``: one row per alert, indexed by the flagged point, with the detector's columns plus
    ``raised_at`` (index label of the run's last point) and ``delay`` (points between the flagged
    point and that run). ``runs``: replayed detection runs. ``points``: points from ``warmup`` on.
    """

    alerts: pd.DataFrame
    runs: int
    points: int

    @property
    def alert_rate(self) -> float:
        """Alerts per replayed point (0 when nothing was replayed)."""
        return len(self.alerts) / self.points if self.points else 0.0


def backtest(
    series: pd.Series,
    detector: Detector,
    *,
    warmup: int,
    step: int = 1,
    lookback: int | None = None,
    period: int | None = None,
) -> BacktestReport:
    """Replay ``series`` from position ``warmup`` on, running ``detector`` every ``step`` points.

    ``warmup``: points of history before the first run (they never alert). ``lookback``: the history
    a run reads, as the anomalies asset's ``lookback_days`` (default: all history). Cost: one
    ``detect`` per run (for Prophet, one fit per run: raise ``step`` or set ``lookback``).
    """
    s = as_float_series(series)
    if not isinstance(detector, Detector):
        raise LupusValidationError("detector", "must be a Detector", value=type(detector).__name__)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or not 0 <= warmup < len(s):
        raise LupusValidationError(
            "warmup", f"must be an integer in [0, {len(s)}): points before the first run", value=warmup
        )
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise LupusValidationError("step", "must be a positive integer: points between runs", value=step)
    if lookback is not None and (isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 1):
        raise LupusValidationError("lookback", "must be a positive integer or None", value=lookback)
    raised: dict[int, pd.Series] = {}
    runs = 0
    for end in range(min(warmup + step, len(s)), len(s) + step, step):
        end = min(end, len(s))
        start = 0 if lookback is None else _history_start(s.index, end - 1, lookback)
        verdict = detector.detect(s.iloc[start:end], period=period)
        runs += 1
        for offset in (verdict["is_anomaly"].to_numpy()).nonzero()[0]:
            position = start + int(offset)
            if position >= warmup and position not in raised:
                row = verdict.iloc[offset].copy()
                row["raised_at"], row["delay"] = s.index[end - 1], end - 1 - position
                raised[position] = row
        if end == len(s):
            break
    positions = sorted(raised)
    alerts = pd.DataFrame([raised[p] for p in positions], index=s.index[positions])
    if alerts.empty:
        alerts = pd.DataFrame(columns=[*verdict.columns, "raised_at", "delay"], index=s.index[:0])
    return BacktestReport(
        alerts=alerts.astype({"delay": "int64", "is_anomaly": bool}), runs=runs, points=len(s) - warmup
    )


def _history_start(index: pd.Index, last: int, lookback: int) -> int:
    """Position of the first point a live run judging position ``last`` reads."""
    if isinstance(index, pd.DatetimeIndex) and len(index) > 1 and sampling_step(index) == DAY_NS:
        utc = index.tz_convert("UTC") if index.tz is not None else index
        days = utc.normalize().tz_localize(None) if utc.tz is not None else utc.normalize()
        first_day = pd.Timestamp(history_start(days[last].date(), lookback))
        return int(np.searchsorted(days, first_day))
    return max(0, (last - lookback) // lookback * lookback)
