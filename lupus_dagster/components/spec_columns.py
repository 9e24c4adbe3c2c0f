"""Checking that the columns a spec names exist in the product's source (when a file is there to look at)."""

from __future__ import annotations

import glob

import pyarrow.parquet as pq

from lupus_dagster.product_spec import ProductSpec


def referenced_columns(spec: ProductSpec) -> dict[str, str]:
    """Column -> the spec field that names it (first mention wins)."""
    named: dict[str, str] = {}

    def add(columns: list[str] | None, where: str) -> None:
        for column in columns or []:
            named.setdefault(column, where)

    if spec.profile is not None:
        add(list(spec.profile.columns), "profile.columns")
        add(spec.profile.group_by, "profile.group_by")
    for n, task in enumerate(spec.evaluate):
        if task.classification:
            c = task.classification
            add([c.y_true, c.y_pred, *(c.y_score or []), *c.group_by], f"evaluate[{n}].classification")
        if task.regression:
            r = task.regression
            add([r.y_true, r.y_pred, *r.group_by], f"evaluate[{n}].regression")
        if task.ranking:
            cols = task.ranking.recommendations
            add([cols.user, cols.item, cols.score, *task.ranking.group_by], f"evaluate[{n}].ranking.recommendations")
    for n, drift in enumerate(spec.drift):
        add([*drift.columns, *drift.group_by], f"drift[{n}]")
    if spec.churn:
        add([spec.churn.key, spec.churn.prediction, *([spec.churn.version] if spec.churn.version else [])], "churn")
    return named


def check_columns_against_source(spec: ProductSpec) -> str | None:
    """A message naming the first unknown column, or None (also when no source file exists to compare)."""
    if not spec.source.parquet:
        return None
    from lupus_dagster.assets.sources import resolve_pattern

    pattern = resolve_pattern(spec.source.parquet.replace("{date}", "*"), spec.partitions.start)
    files = sorted(glob.glob(pattern))
    if not files:
        return None
    available = set(pq.read_schema(files[-1]).names)
    for column, where in referenced_columns(spec).items():
        if column not in available:
            return f"{where}: unknown column {column!r} (the source {files[-1]} has {sorted(available)})"
    return None
