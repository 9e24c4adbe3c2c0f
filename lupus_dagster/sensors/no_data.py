"""No-data alerts: a segment present on most recent days that has no rows today.

A **segment** is a combination of the spec's group-by label values (``region=JP``,
``region=JP, platform=android``). A segment present on at least ``min_presence`` of the
``window_days`` days before ``day`` and without any point on ``day`` is missing. When a
segment and a finer one inside it are both missing, only the coarser is reported (a vanished
``region=JP`` is one alert, not one per platform). A day without any point is not judged
here: that is a freshness problem.

Example:
    >>> import pandas as pd
    >>> days = pd.date_range("2026-01-01", periods=15, tz="UTC")
    >>> points = pd.DataFrame({"metric": "rows.count", "ts": [d for d in days for _ in range(2)],
    ...                        "labels": [{"platform": p} for _ in days for p in ("ios", "android")]})
    >>> points = points[~((points["ts"] == days[-1]) & (points["labels"] == {"platform": "android"}))]
    >>> [(m.labels, m.present_days) for m in missing_segments(points, day=days[-1].date(), keys=("platform",))]
    [({'platform': 'android'}, 14)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from lupus_dagster.sensors.policy import AlertPolicy
from lupus_metrics.schema import series_id
from lupus_store import MetricStore
from lupus_store.incidents import Alert, Candidate, chart_link


@dataclass(frozen=True)
class MissingSegment:
    labels: dict[str, str]
    present_days: int
    window_days: int
    metrics: list[str] = field(default_factory=list)


def missing_segments(
    points: pd.DataFrame, *, day: date, keys: Sequence[str], window_days: int = 14, min_presence: float = 0.8
) -> list[MissingSegment]:
    """Segments of ``keys`` missing on ``day`` after being present on most of the previous ``window_days``."""
    if points.empty:
        return []
    days = pd.to_datetime(points["ts"], utc=True).dt.date
    segments = points["labels"].map(lambda labels: _segment(labels or {}, keys))
    frame = pd.DataFrame({"segment": segments, "day": days, "metric": points["metric"]}).dropna(subset=["segment"])
    if not (days == day).any():
        return []
    first = day - timedelta(days=window_days)
    before = frame[(frame["day"] >= first) & (frame["day"] < day)]
    present = before.groupby("segment")["day"].nunique()
    today = set(frame.loc[frame["day"] == day, "segment"])
    needed = math.ceil(min_presence * window_days - 1e-9)
    missing = [segment for segment, count in present.items() if count >= needed and segment not in today]
    # Report the coarsest: drop a segment when one it extends is missing too.
    coarsest = [s for s in missing if not any(other != s and set(other) < set(s) for other in missing)]
    metrics = before.groupby("segment")["metric"].unique()
    return [
        MissingSegment(dict(segment), int(present[segment]), window_days, sorted(metrics[segment]))
        for segment in sorted(coarsest)
    ]


def no_data_candidates(store: MetricStore, policy: AlertPolicy, day: date) -> list[Candidate]:
    """No-data alerts of ``day`` for the product's segments (none when the policy has no segment keys)."""
    if policy.no_data is None:
        return []
    rule = policy.no_data
    points = store.read_points(policy.datasource, start=day - timedelta(days=rule.window_days), end=day)
    found = missing_segments(points, day=day, keys=rule.keys, window_days=rule.window_days,
                             min_presence=rule.min_presence)  # fmt: skip
    candidates = []
    for gap in found:
        shown = ", ".join(gap.metrics[:5]) + (f" and {len(gap.metrics) - 5} more" if len(gap.metrics) > 5 else "")
        detail = f"present on {gap.present_days} of the previous {gap.window_days} days, no rows on {day}; its metrics: {shown}"
        alert = Alert(
            kind="no_data", metric=None, labels=gap.labels, detail=detail,
            link=chart_link(policy.datasource, gap.metrics[0] if gap.metrics else None, gap.labels, day),
        )  # fmt: skip
        candidates.append(
            Candidate(
                product=policy.product,
                datasource=policy.datasource,
                series_id=series_id(policy.datasource, "no_data", gap.labels),
                day=day,
                kind="no_data",
                metric=None,
                severity=float(gap.present_days),
                alert=alert,
                rule="no_data",
                level=policy.level("no_data", None),
                team=policy.team,
            )
        )
    return candidates


def _segment(labels: dict, keys: Sequence[str]) -> tuple[tuple[str, str], ...] | None:
    segment = tuple(sorted((key, str(labels[key])) for key in keys if key in labels))
    return segment or None
