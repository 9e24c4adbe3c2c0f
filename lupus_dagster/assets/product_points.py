"""A product's metric points for one day: profile, evaluation, drift and churn, from the spec.

Pure computation (no Dagster): the metrics asset loads the data and stores what this returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from lupus_dagster.product_spec import EvaluationTask, ProductSpec
from lupus_metrics.churn import prediction_churn
from lupus_metrics.drift import drift_points
from lupus_metrics.evaluation import evaluate_classification, evaluate_ranking, evaluate_regression
from lupus_metrics.evaluation.points import POINT_FRAME_COLUMNS, point, points_frame
from lupus_metrics.stats.profile import compute_profile


@dataclass
class DayPoints:
    """The points of a day and notes on what could not be computed (e.g. no previous day for drift)."""

    points: pd.DataFrame
    rows: int
    notes: list[str] = field(default_factory=list)


def compute_day_points(
    spec: ProductSpec,
    frame: Any,
    *,
    day: date,
    ts: pd.Timestamp,
    previous: Callable[[], Any | None],
    reference: Callable[[date, date], Any | None],
    relevance: Callable[[EvaluationTask], pd.DataFrame],
) -> DayPoints:
    """Every point the spec asks for on ``day``; ``previous``/``reference``/``relevance`` load other data lazily."""
    parts: list[pd.DataFrame] = []
    notes: list[str] = []
    if spec.profile is not None:
        parts.append(compute_profile(frame, spec.profile, ts=ts))
    pandas_frame = frame if isinstance(frame, pd.DataFrame) else frame.toPandas()
    rows = len(pandas_frame)
    if spec.profile is None or not any(p["metric"].eq("rows.count").any() for p in parts):
        parts.append(points_frame([point("rows.count", {}, rows, n=rows)], ts=ts))
    for task in spec.evaluate:
        parts.append(_evaluate(task, pandas_frame, ts, relevance))
    if spec.drift or spec.churn:
        prev = previous()
        prev = prev if prev is None or isinstance(prev, pd.DataFrame) else prev.toPandas()
        for drift in spec.drift:
            ref = prev if drift.against == "previous_day" else reference(drift.reference_start, drift.reference_end)
            if ref is None or (isinstance(ref, pd.DataFrame) and ref.empty):
                notes.append(f"drift on {drift.columns} skipped: no {drift.against.replace('_', ' ')} data")
                continue
            parts.append(
                drift_points(ref, pandas_frame, columns=drift.columns, methods=drift.methods,
                             group_by=drift.group_by or None, ts=ts)
            )  # fmt: skip
        if spec.churn is not None:
            parts.extend(_churn(spec, prev, pandas_frame, ts, notes))
    points = pd.concat([p for p in parts if not p.empty], ignore_index=True) if parts else pd.DataFrame()
    return DayPoints(points=points[list(POINT_FRAME_COLUMNS)], rows=rows, notes=notes)


def _evaluate(task: EvaluationTask, frame: pd.DataFrame, ts: pd.Timestamp, relevance: Callable) -> pd.DataFrame:
    if task.classification is not None:
        c = task.classification
        scores = frame[c.y_score] if c.y_score else None
        if scores is not None and len(c.y_score) == 1:
            scores = scores.iloc[:, 0]
        return evaluate_classification(
            frame[c.y_true], frame[c.y_pred], scores, classes=c.classes,
            group_by=frame[c.group_by] if c.group_by else None, ts=ts,
        )  # fmt: skip
    if task.regression is not None:
        r = task.regression
        return evaluate_regression(
            frame[r.y_true], frame[r.y_pred], group_by=frame[r.group_by] if r.group_by else None, ts=ts
        )
    ranking = task.ranking
    cols = ranking.recommendations
    recs = frame[[cols.user, cols.item, cols.score, *ranking.group_by]].rename(
        columns={cols.user: "user", cols.item: "item", cols.score: "score"}
    )
    rel = relevance(task)
    options: dict[str, Any] = {"k": ranking.k, "gain": ranking.gain, "no_relevant": ranking.no_relevant}
    if ranking.metrics:
        options["metrics"] = ranking.metrics
    return evaluate_ranking(recs, rel, group_by=ranking.group_by or None, ts=ts, **options)


def _churn(spec: ProductSpec, previous: pd.DataFrame | None, current: pd.DataFrame, ts: pd.Timestamp,
           notes: list[str]) -> list[pd.DataFrame]:  # fmt: skip
    churn = spec.churn
    if previous is None or previous.empty:
        notes.append("churn skipped: no previous day data")
        return []
    parts = [
        prediction_churn(previous, current, key=churn.key, prediction=churn.prediction, kind=churn.kind,
                         group_by=churn.group_by or None, ts=ts)
    ]  # fmt: skip
    if churn.version:
        # A release shows as a step in churn.rate; this marks the day it happened.
        changed = set(previous[churn.version].dropna().astype(str)) != set(current[churn.version].dropna().astype(str))
        parts.append(points_frame([point("churn.version_changed", {}, float(changed))], ts=ts))
    return parts
