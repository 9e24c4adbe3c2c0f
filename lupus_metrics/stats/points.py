"""From the aggregates an engine returns to metric points (the part both engines share).

An engine hands back an :class:`EngineResult`:

- ``scalars``: one row per group with ``gid`` (0 for a group-by group, non-zero for the
  overall group), the group-by values as text in ``g0, g1, ...`` and one float column per
  aggregate alias (a list for ``quantiles``);
- ``topks``: per top-k column, rows ``gid, g*, v, n, rank, total`` (value, its count,
  its rank, the group's count of all non-null values) for ranks up to K.

Labels: the overall group has no group-by labels; a group has one label per group-by
column, its value as text, :data:`NULL_LABEL` for null. Top-k points add ``value`` and
``rank``. Label values keep at most 256 characters (longer ones end in ``…``) and
control characters become U+FFFD, so that every point is storable.

Example:
    >>> label_text(None), label_text("JP"), len(label_text("x" * 300))
    ('__null__', 'JP', 256)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lupus_metrics.schema import MAX_LABEL_VALUE_LENGTH
from lupus_metrics.stats.compiler import topk_metrics
from lupus_metrics.stats.plan import COUNTING_FNS, ProfilePlan, TopK
from lupus_metrics.stats.standard_error import rate_stderr

#: Label value of a null group-by value.
NULL_LABEL = "__null__"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class EngineResult:
    """What an engine computed for a plan (see the module docstring for the columns)."""

    scalars: pd.DataFrame
    topks: dict[str, pd.DataFrame]


def group_columns(plan: ProfilePlan) -> list[str]:
    """Result column names of the group-by values: ``g0, g1, ...``."""
    return [f"g{i}" for i in range(len(plan.group_by))]


def label_text(value: object) -> str:
    """A group-by or top-k value as a storable label value."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return NULL_LABEL
    text = _CONTROL.sub("\ufffd", str(value))
    return text if len(text) <= MAX_LABEL_VALUE_LENGTH else text[: MAX_LABEL_VALUE_LENGTH - 1] + "…"


def assemble_points(plan: ProfilePlan, result: EngineResult, ts: pd.Timestamp) -> pd.DataFrame:
    """Metric points (``metric, labels, ts, value, n, stderr``): per group (overall first), its stats, then top-k."""
    scalars = _with_overall_row(plan, result.scalars)
    keys = [_group_key(plan, row) for row in scalars.itertuples(index=False)]
    order = sorted(range(len(keys)), key=lambda i: _sort_key(keys[i]))
    scalars = scalars.iloc[order].reset_index(drop=True)
    keys = [keys[i] for i in order]
    columns = {alias: scalars[alias].to_numpy() for alias in plan.aggregate_aliases()}
    columns["__ts"] = np.full(len(scalars), ts.value / 1e9)
    undefined = np.full(len(scalars), np.nan)
    computed = [
        (
            o.metric,
            o.estimate.value(columns),
            *(undefined if f is None else f(columns) for f in (o.estimate.n, o.estimate.stderr)),
        )
        for o in plan.outputs
    ]

    points = _Points()
    for i, key in enumerate(keys):
        for metric, value, n, stderr in computed:
            points.add(metric, key, value[i], n[i], stderr[i])
    for topk in plan.topks:
        _add_topk_points(points, plan, topk, result.topks[topk.column], keys)
    return points.frame(ts)


def _add_topk_points(
    points: _Points, plan: ProfilePlan, topk: TopK, frame: pd.DataFrame, keys: list[dict[str, str]]
) -> None:
    count_metric, share_metric, *other_metric = topk_metrics(topk)
    rows = [(_group_key(plan, row), row) for row in frame.itertuples(index=False)]
    rows.sort(key=lambda item: (_sort_key(item[0]), int(item[1].rank)))
    taken: dict[tuple[tuple[str, str], ...], float] = {}
    totals: dict[tuple[tuple[str, str], ...], float] = {}
    for key, row in rows:
        n, total = float(row.n), float(row.total)
        labels = {**key, "value": label_text(row.v), "rank": str(int(row.rank))}
        # Shares are rates over the group's non-null values (elements, for arrays).
        points.add(count_metric, labels, n, total)
        points.add(share_metric, labels, n / total, total, float(rate_stderr(n / total, total)))
        taken[_frozen(key)] = taken.get(_frozen(key), 0.0) + n
        totals[_frozen(key)] = total
    for key in keys if other_metric else ():
        total = totals.get(_frozen(key), 0.0)
        # A group without non-null values has no shares at all: null, not 0.
        other = 1 - taken[_frozen(key)] / total if total else np.nan
        points.add(other_metric[0], key, other, total, float(rate_stderr(other, total)))


class _Points:
    def __init__(self) -> None:
        self.metrics: list[str] = []
        self.labels: list[dict[str, str]] = []
        self.values: list[float] = []
        self.n: list[float] = []
        self.stderr: list[float] = []

    def add(self, metric: str, labels: dict[str, str], value: float, n: float = np.nan, stderr: float = np.nan) -> None:
        self.metrics.append(metric)
        self.labels.append(dict(labels))
        self.values.append(float(value))
        self.n.append(float(n))
        self.stderr.append(float(stderr))

    def frame(self, ts: pd.Timestamp) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "metric": self.metrics,
                "labels": self.labels,
                "ts": pd.Series([ts] * len(self.metrics), dtype="datetime64[us, UTC]"),
                "value": np.asarray(self.values, dtype="float64"),
                "n": np.asarray(self.n, dtype="float64"),
                "stderr": np.asarray(self.stderr, dtype="float64"),
            }
        )


def _sort_key(key: dict[str, str]) -> tuple[bool, list[tuple[str, str]]]:
    return (len(key) > 0, sorted(key.items()))


def _group_key(plan: ProfilePlan, row: object) -> dict[str, str]:
    if not plan.group_by or row.gid != 0:  # type: ignore[attr-defined]
        return {}
    return {name: label_text(getattr(row, f"g{i}")) for i, name in enumerate(plan.group_by)}


def _frozen(key: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(key.items()))


def _with_overall_row(plan: ProfilePlan, scalars: pd.DataFrame) -> pd.DataFrame:
    # An engine may return no overall row for an empty input; counts are then 0, the rest null.
    overall = (scalars["gid"] != 0) if plan.group_by else pd.Series(True, index=scalars.index)
    if overall.any():
        return scalars
    row: dict[str, object] = {"gid": 1, **{g: None for g in group_columns(plan)}}
    for alias, agg in zip(plan.aggregate_aliases(), plan.aggregates, strict=True):
        row[alias] = 0.0 if agg.fn in COUNTING_FNS else None
    return pd.concat([pd.DataFrame([row]), scalars], ignore_index=True)
