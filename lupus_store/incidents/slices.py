"""Root-cause input from the metric store: the leaves under an anomalous aggregate series, on its day.

For an anomaly of ``metric`` with labels ``L`` (``{}`` for the overall group), the leaves are
the series of the same metric whose labels strictly extend ``L`` with the most keys (e.g.
``{region, platform}`` under ``{}``); the label keys they add are the dimensions. Each leaf's
``actual`` is its value that day (with ``n`` and ``stderr``); its ``expected`` is its
detector's expected value that day when it has one, else the median of the same weekday over
the previous four weeks (at least two), else of the previous seven days. The usual support
``n_expected`` is found the same way. A leaf present in the history but absent today counts
as gone (a count of 0, a support of 0).

Whether a metric is additive (a sum over segments, e.g. ``rows.count``) or a mean or rate
over users is decided by globs (``alerts.additive`` in the spec).

Example:
    >>> import tempfile, pandas as pd
    >>> from lupus_store import MetricStore
    >>> store = MetricStore(tempfile.mkdtemp())
    >>> for day in pd.date_range("2026-01-01", periods=15, tz="UTC"):
    ...     jp = 20.0 if day.day == 15 else 100.0
    ...     points = pd.DataFrame({"metric": "rows.count", "labels": [{}, {"region": "JP"}, {"region": "US"}],
    ...                            "ts": day, "value": [jp + 100, jp, 100.0]})
    ...     _ = store.write_points("ds", points, day=day.date(), writer="m")
    >>> cause = explain_series(store, "ds", metric="rows.count", labels={}, day=pd.Timestamp("2026-01-15").date())
    >>> cause.slices[0].labels, round(cause.slices[0].share, 2)
    ({'region': 'JP'}, 1.0)
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

from lupus_metrics.root_cause import RootCause, explain
from lupus_store.metric_store import MetricStore

HISTORY_DAYS = 28
DEFAULT_ADDITIVE = ("*.count", "*.sum", "*.null_count")


def metric_kind(metric: str, additive: Sequence[str] = DEFAULT_ADDITIVE) -> str:
    """``additive`` when ``metric`` matches one of the globs, else ``ratio``.

    >>> metric_kind("rows.count"), metric_kind("ranking.recall")
    ('additive', 'ratio')
    """
    return "additive" if any(fnmatch.fnmatchcase(metric, glob) for glob in additive) else "ratio"


def has_children(series_labels: Sequence[Mapping[str, str]], labels: Mapping[str, str]) -> bool:
    """Whether some series' labels strictly extend ``labels`` (so an anomaly of it can be explained)."""
    return any(_extends(other, labels) for other in series_labels)


def explain_series(
    store: MetricStore,
    datasource: str,
    *,
    metric: str,
    labels: Mapping[str, str],
    day: date,
    verdicts: pd.DataFrame | None = None,
    additive: Sequence[str] = DEFAULT_ADDITIVE,
    top: int = 3,
    history: pd.DataFrame | None = None,
) -> RootCause | None:
    """The slices under ``metric{labels}`` that explain its change on ``day``; None without leaves.

    ``verdicts``: the day's detector records (``series_id``, ``expected``) if at hand;
    ``history``: the metric's points of the previous four weeks and the day, if already read.
    """
    points = history if history is not None else store.read_points(
        datasource, metrics=metric, start=day - timedelta(days=HISTORY_DAYS), end=day
    )  # fmt: skip
    points = points[points["metric"] == metric]
    if points.empty:
        return None
    children = points[points["labels"].map(lambda other: _extends(other, labels))]
    if children.empty:
        return None
    key_sets = Counter(frozenset(other) for other in children["labels"])
    widest = max(key_sets, key=lambda keys: (len(keys), key_sets[keys]))
    leaves = children[children["labels"].map(lambda other: frozenset(other) == widest)]
    dimensions = sorted(widest - set(labels))
    frame = _leaf_frame(leaves, day, dimensions, verdicts)
    if frame.empty or len(frame) < 2:
        return None
    return explain(frame, dimensions=dimensions, kind=metric_kind(metric, additive), top=top)


def _leaf_frame(leaves: pd.DataFrame, day: date, dimensions: list[str], verdicts: pd.DataFrame | None) -> pd.DataFrame:
    leaves = leaves.assign(day=pd.to_datetime(leaves["ts"], utc=True).dt.date)
    expected_today = {}
    if verdicts is not None and not verdicts.empty:
        today = verdicts[pd.to_datetime(verdicts["ts"], utc=True).dt.date == day]
        expected_today = dict(zip(today["series_id"], today["expected"], strict=True))
    rows = []
    for series_id, series in leaves.groupby("series_id", sort=True):
        past = series[series["day"] < day]
        now = series[series["day"] == day]
        if past.empty:
            continue  # a leaf new today has no usual value to compare with
        expected = expected_today.get(series_id)
        if expected is None or not np.isfinite(expected):
            expected = _usual(past, day, "value")
        if expected is None:
            continue
        n_now = float(now["n"].iloc[-1]) if "n" in now and len(now) else (0.0 if now.empty else np.nan)
        row = {dim: series["labels"].iloc[0][dim] for dim in dimensions}
        row |= {
            "actual": float(now["value"].iloc[-1]) if len(now) else np.nan,
            "expected": float(expected),
            "n": n_now,
            "n_expected": _usual(past, day, "n") if "n" in past else np.nan,
            "stderr": float(now["stderr"].iloc[-1]) if "stderr" in now and len(now) else np.nan,
        }
        rows.append(row)
    return pd.DataFrame(rows)


def _usual(past: pd.DataFrame, day: date, column: str) -> float | None:
    values = past[[column, "day"]].dropna()
    same_weekday = values[values["day"].map(lambda d: d.weekday() == day.weekday() and (day - d).days <= HISTORY_DAYS)]
    if len(same_weekday) >= 2:
        return float(same_weekday[column].median())
    recent = values[values["day"].map(lambda d: (day - d).days <= 7)]
    if len(recent):
        return float(recent[column].median())
    return None


def _extends(other: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return len(other) > len(labels) and all(other.get(key) == value for key, value in labels.items())
