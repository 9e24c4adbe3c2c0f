"""Detection over stored history: read a datasource's points, run detector rules, store the verdicts.

Shared by every front door that asks for detection (the Dagster anomalies assets, the
detection-request job the API launches), so they read the same lookback and write the same way.

Example:
    >>> import tempfile, pandas as pd
    >>> from lupus_store import MetricStore
    >>> store = MetricStore(tempfile.mkdtemp())
    >>> for day, value in zip(pd.date_range("2026-01-01", periods=5, tz="UTC"), [5, 5, 5, 0, 5]):
    ...     _ = store.write_points("ds", pd.DataFrame({"metric": ["rows.count"], "labels": [{}], "ts": [day],
    ...                                                "value": [float(value)]}), day=day.date(), writer="m")
    >>> report = detect_and_store(store, "ds", [{"metrics": ["rows.count"], "detector": {"kind": "threshold", "min": 1}}],
    ...                           start="2026-01-01", end="2026-01-05", writer="anomalies", workers=1)
    >>> report.anomalies, report.evaluated
    (1, 5)

Days whose blocking check failed (or single points) can be ``excluded``: they are still judged,
but no detector learns from them, so a broken day does not widen later bands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from lupus_metrics.detectors.registry import rules_from_config
from lupus_metrics.detectors.runner import RECORD_COLUMNS, detect_many
from lupus_metrics.detectors.timing import history_start
from lupus_store.metric_store import MetricStore

__all__ = ["DetectionReport", "detect_and_store", "history_start", "judge_days"]


@dataclass
class DetectionReport:
    """What :func:`detect_and_store` did: evaluated points, anomalies, failed series, days written."""

    evaluated: int = 0
    anomalies: int = 0
    by_metric: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    days_written: list[date] = field(default_factory=list)


def detect_and_store(
    store: MetricStore,
    datasource: str,
    rules: Iterable[Mapping[str, Any] | Any],
    *,
    start: date | str,
    end: date | str,
    writer: str,
    lookback_days: int = 120,
    run_id: str | None = None,
    workers: int | None = None,
    backend: str = "process",
    excluded: Iterable[date | str | tuple[str, Any]] = (),
) -> DetectionReport:
    """Run ``rules`` over ``datasource`` and write verdicts for the days ``start..end`` (inclusive).

    Each day is judged on the history from :func:`history_start` (at least ``lookback_days``, less than
    twice as many; missing days are simply absent) up to the day itself, so a day's verdict does not
    depend on how the request is cut: one request over a range and one request per day store the
    same verdicts. Days that share a history start are judged in one pass by causal detectors
    (``Detector.causal``: each point judged from earlier points only); other detectors (in-sample
    fits, hindsight change points, next-step forecasts) run once per day. Only verdicts within the
    range are written, one file per day owned by ``writer``, so repeating a request replaces its own
    earlier verdicts.

    ``excluded``: days (dates or ISO strings: every point of the day) and ``(series_id, ts)`` pairs
    whose points the detectors judge but leave out of every baseline, e.g. the days whose blocking
    check failed.
    """
    in_range, errors = judge_days(store, datasource, rules, start=start, end=end, lookback_days=lookback_days,
                                  run_id=run_id, workers=workers, backend=backend, excluded=excluded)  # fmt: skip
    report = DetectionReport(errors=errors)
    if in_range.empty:
        return report
    report.evaluated = len(in_range)
    flagged = in_range[in_range["is_anomaly"]]
    report.anomalies = len(flagged)
    report.by_metric = flagged.groupby("metric").size().to_dict()
    # One file per day, each replaced atomically; validated and converted once for the range.
    report.days_written = sorted(store.write_anomaly_days(datasource, in_range, writer=writer, run_id=run_id))
    return report


def judge_days(
    store: MetricStore,
    datasource: str,
    rules: Iterable[Mapping[str, Any] | Any],
    *,
    start: date | str,
    end: date | str,
    lookback_days: int = 120,
    run_id: str | None = None,
    workers: int | None = None,
    backend: str = "process",
    excluded: Iterable[date | str | tuple[str, Any]] = (),
) -> tuple[pd.DataFrame, list[str]]:
    """The verdicts :func:`detect_and_store` would write for ``start..end``, and the failed series; nothing is written.

    ``lupus backtest`` replays detection through this, so it judges each day exactly as production does.
    """
    first, last = pd.Timestamp(start).date(), pd.Timestamp(end).date()
    if last < first:
        raise ValueError(f"end ({last}) is before start ({first})")
    parsed = rules_from_config(rules)
    causal = [rule for rule in parsed if rule.detector.causal]
    other = [rule for rule in parsed if not rule.detector.causal]
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    passes: list[tuple[date, list[date], list[Any]]] = []
    if causal:
        by_start: dict[date, list[date]] = {}
        for day in days:
            by_start.setdefault(history_start(day, lookback_days), []).append(day)
        passes += [(begin, group, causal) for begin, group in by_start.items()]
    if other:
        passes += [(history_start(day, lookback_days), [day], other) for day in days]
    errors: list[str] = []
    verdicts: list[pd.DataFrame] = []
    excluded = list(excluded)
    histories = _HistoryWindows(store, datasource, last)
    for begin, group, group_rules in passes:
        history = histories.between(begin, group[-1])
        if history.empty:
            continue
        result = detect_many(
            _mark_excluded(history, excluded), group_rules, datasource=datasource, run_id=run_id,
            workers=workers, backend=backend,
        )  # fmt: skip
        errors += [f"{row.metric} {row.labels}: {row.error}" for row in result.errors.itertuples()]
        judged = result.anomalies
        verdicts.append(judged[judged["ts"].dt.date.isin(set(group))])
    in_range = pd.concat(verdicts, ignore_index=True) if verdicts else pd.DataFrame(columns=RECORD_COLUMNS)
    return in_range, sorted(set(errors))


class _HistoryWindows:
    """The stored points of ``begin..end`` for each pass, read a few passes at a time.

    A ranged detection makes many passes over overlapping windows of history (one per history
    start, or one per day for non-causal detectors). Each read scans the day files of its window,
    so consecutive passes are served from one read of up to ``SPAN`` times a pass's window
    (memory stays within a few windows), sliced by ``ts`` as :meth:`MetricStore.read_points`
    filters it (``end`` covers its whole day).
    """

    SPAN = 3

    def __init__(self, store: MetricStore, datasource: str, last: date):
        self.store, self.datasource, self.last = store, datasource, last
        self._window: tuple[date, date, pd.DataFrame] | None = None

    def between(self, begin: date, end: date) -> pd.DataFrame:
        if self._window is None or not (self._window[0] <= begin and end <= self._window[1]):
            reach = max(end, min(self.last, begin + timedelta(days=self.SPAN * max((end - begin).days, 1))))
            self._window = (begin, reach, self.store.read_points(self.datasource, start=begin, end=reach))
        frame = self._window[2]
        if frame.empty:
            return frame
        low = pd.Timestamp(begin, tz="UTC")
        high = pd.Timestamp(end + timedelta(days=1), tz="UTC") - pd.Timedelta(microseconds=1)
        return frame[(frame["ts"] >= low) & (frame["ts"] <= high)].reset_index(drop=True)


def _mark_excluded(history: pd.DataFrame, excluded: Iterable[date | str | tuple[str, Any]]) -> pd.DataFrame:
    """``history`` with an ``excluded`` column when anything is excluded (unchanged otherwise)."""
    days: set[date] = set()
    points: set[tuple[str, int]] = set()
    for item in excluded:
        if isinstance(item, tuple):
            series, ts = item
            points.add((str(series), pd.Timestamp(ts, tz="UTC") if pd.Timestamp(ts).tz is None else pd.Timestamp(ts)))
        elif isinstance(item, date | datetime | str):
            days.add(pd.Timestamp(item).date())
        else:
            raise TypeError(f"excluded: expected a day or a (series_id, ts) pair, got {item!r}")
    if not days and not points:
        return history
    flags = history["ts"].dt.date.isin(days).to_numpy()
    if points:
        ts = pd.to_datetime(history["ts"], utc=True)
        keys = zip(history["series_id"], ts, strict=True)
        flags = flags | np.fromiter(((s, t) in points for s, t in keys), dtype=bool, count=len(history))
    return history.assign(excluded=flags)
