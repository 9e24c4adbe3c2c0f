"""A product's metric points for one day: profile, evaluation, drift and churn, from the spec.

Pure computation (no Dagster): the metrics asset opens the day's sources and stores what this
returns. The day's data is a DuckDB relation (files, SQL, a Python callable's frame, all on one
connection), a Spark DataFrame (Spark tables) or a pandas DataFrame; every metric is computed
where it is (:mod:`lupus_metrics.sql.tables`), so a relation's rows never come into pandas.
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
from lupus_metrics.evaluation import evaluate_ranking
from lupus_metrics.evaluation.classification import classification_points
from lupus_metrics.evaluation.points import POINT_FRAME_COLUMNS, point, points_frame
from lupus_metrics.evaluation.regression import regression_points
from lupus_metrics.sql.tables import Dialect, input_kind, open_tables
from lupus_metrics.stats.parquet_files import ParquetFiles
from lupus_metrics.stats.profile import compute_profile


@dataclass
class DayPoints:
    """The points of a day and notes on what could not be computed (e.g. no previous day for drift)."""

    points: pd.DataFrame
    rows: int
    notes: list[str] = field(default_factory=list)


def compute_day_points(
    spec: ProductSpec,
    data: Any,
    *,
    day: date,
    ts: pd.Timestamp,
    previous: Callable[[], Any | None],
    reference: Callable[[date, date], Any | None],
    relevance: Callable[[EvaluationTask], Any],
    files: ParquetFiles | None = None,
) -> DayPoints:
    """Every point the spec asks for on ``day``; ``previous``/``reference``/``relevance`` load other data lazily.

    ``data`` and what the loaders return are of one kind: DuckDB relations of one connection,
    Spark DataFrames, or pandas DataFrames. ``files``: the Parquet files ``data`` scans, if it
    does (``DaySources.files_of``), for the profile's list columns.
    """
    parts: list[pd.DataFrame] = []
    notes: list[str] = []
    if spec.profile is not None:
        profile = compute_profile(data, spec.profile, ts=ts, files=files)
        parts.append(profile)
        rows = int(profile.loc[(profile["metric"] == "rows.count") & (profile["labels"] == {}), "value"].iloc[0])
    else:
        rows = row_count(data)
        parts.append(points_frame([point("rows.count", {}, rows, n=rows)], ts=ts))
    for task in spec.evaluate:
        parts.append(_evaluate(task, data, ts, relevance))
    if spec.drift or spec.churn:
        prev = previous()
        for drift in spec.drift:
            ref = prev if drift.against == "previous_day" else reference(drift.reference_start, drift.reference_end)
            if ref is None:
                notes.append(f"drift on {drift.columns} skipped: no {drift.against.replace('_', ' ')} data")
                continue
            parts.append(
                drift_points(ref, data, columns=drift.columns, methods=drift.methods,
                             group_by=drift.group_by or None, ts=ts)
            )  # fmt: skip
        if spec.churn is not None:
            parts.extend(_churn(spec, prev, data, ts, notes))
    points = pd.concat([p for p in parts if not p.empty], ignore_index=True) if parts else pd.DataFrame()
    return DayPoints(points=points[list(POINT_FRAME_COLUMNS)], rows=rows, notes=notes)


def row_count(data: Any) -> int:
    """Rows of a relation, Spark DataFrame or pandas DataFrame (counted where it is)."""
    with open_tables(data=data) as tables:
        return tables.count("data")


def select_columns(data: Any, names: dict[str, str]) -> Any:
    """``data`` with only the columns ``names`` maps to (new name -> source column), renamed, where it is."""
    kind = input_kind(data)
    if kind == "relation":
        ident = Dialect("duckdb").ident
        return data.project(", ".join(f"{ident(old)} AS {ident(new)}" for new, old in names.items()))
    if kind == "spark":
        ident = Dialect("spark").ident
        return data.selectExpr(*[f"{ident(old)} AS {ident(new)}" for new, old in names.items()])
    frame = data if isinstance(data, pd.DataFrame) else data.to_pandas()
    return frame[list(names.values())].set_axis(list(names), axis=1)


def _evaluate(task: EvaluationTask, data: Any, ts: pd.Timestamp, relevance: Callable) -> pd.DataFrame:
    if task.classification is not None:
        c = task.classification
        scores = c.y_score[0] if c.y_score and len(c.y_score) == 1 else c.y_score
        return classification_points(data, y_true=c.y_true, y_pred=c.y_pred, y_score=scores, classes=c.classes,
                                     group_by=c.group_by, ts=ts)  # fmt: skip
    if task.regression is not None:
        r = task.regression
        return regression_points(data, y_true=r.y_true, y_pred=r.y_pred, group_by=r.group_by, ts=ts)
    ranking = task.ranking
    cols = ranking.recommendations
    recs = select_columns(
        data, {"user": cols.user, "item": cols.item, "score": cols.score, **{g: g for g in ranking.group_by}}
    )
    options: dict[str, Any] = {"k": ranking.k, "gain": ranking.gain, "no_relevant": ranking.no_relevant}
    if ranking.metrics:
        options["metrics"] = ranking.metrics
    return evaluate_ranking(recs, relevance(task), group_by=ranking.group_by or None, ts=ts, **options)


def _churn(
    spec: ProductSpec, previous: Any | None, current: Any, ts: pd.Timestamp, notes: list[str]
) -> list[pd.DataFrame]:
    churn = spec.churn
    if previous is None:
        notes.append("churn skipped: no previous day data")
        return []
    parts = [
        prediction_churn(previous, current, key=churn.key, prediction=churn.prediction, kind=churn.kind,
                         group_by=churn.group_by or None, ts=ts)
    ]  # fmt: skip
    if churn.version:
        # A release shows as a step in churn.rate; this marks the day it happened.
        changed = _distinct_text(previous, churn.version) != _distinct_text(current, churn.version)
        parts.append(points_frame([point("churn.version_changed", {}, float(changed))], ts=ts))
    return parts


def _distinct_text(data: Any, column: str) -> set[str]:
    """The distinct non-null values of ``column``, as text (computed where the data is)."""
    with open_tables(data=data) as tables:
        ident, text = tables.dialect.ident(column), tables.dialect.string_type
        found = tables.query(f"SELECT DISTINCT CAST({ident} AS {text}) AS v FROM data WHERE {ident} IS NOT NULL")
    return set(found["v"])
