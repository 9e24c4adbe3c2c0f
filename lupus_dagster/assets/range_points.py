"""A ranged run's metric points computed for many days at once: the day is one more grouping column.

A day of a few thousand rows costs a handful of DuckDB queries whose fixed cost (planning, binding,
converting results) is most of the day's time. When every metric of a spec is computed from the
day's own rows alone (a profile and regression tasks: no drift, churn or ranking, which combine
days or sources; no sampled profile, whose sample is per day), the days of a span of local Parquet
files are read as one table with a day column and each query runs once for the span, grouped by
day as well; the result is split into the points each day would get alone
(:func:`lupus_metrics.stats.profile_days.compute_profile_days`, and the regression queries with the
day prepended to the group-by columns). Every other spec keeps the day-by-day path.

Spans are consecutive days whose files share one schema (a column added mid-range starts a new
span, so no day sees another day's columns) and total at most ``LUPUS_RANGE_MEMORY_BYTES``
(default 256 MiB of files).

Example:
    >>> spans_by_size([("a", 10), ("b", 10), ("c", 10)], limit=20)
    [['a', 'b'], ['c']]
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lupus_dagster.assets.product_points import DayPoints
from lupus_dagster.assets.sources import DaySources, SourceMissingError
from lupus_dagster.product_spec import ProductSpec
from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation.points import POINT_FRAME_COLUMNS, point, points_frame
from lupus_metrics.evaluation.regression import regression_points
from lupus_metrics.stats.profile_days import compute_profile_days

#: The day column added to a span's rows (dropped before anything else sees them).
DAY_COLUMN = "__lupus_day"
_FILE_COLUMN = "__lupus_file"


def computes_by_span(spec: ProductSpec) -> bool:
    """True when every point of ``spec`` comes from one day's rows of local Parquet files alone."""
    source = spec.source
    return (
        bool(source.parquet)
        and not source.on_s3
        and not (spec.drift or spec.churn)
        and all(task.regression is not None for task in spec.evaluate)
        and (spec.profile is None or spec.profile.sample is None)
    )


def span_points(
    spec: ProductSpec, days: Sequence[date], sources: DaySources
) -> Iterator[tuple[date, DayPoints | SourceMissingError]]:
    """Each day's points (or why its source is missing), in order, computed span by span."""
    files: dict[date, list[str]] = {}
    for day in days:
        try:
            files[day] = sources._files(spec.source, day)  # the day path's own lookup and error text
        except SourceMissingError as err:
            yield day, err
            continue
    limit = int(os.environ.get("LUPUS_RANGE_MEMORY_BYTES") or 256 * 2**20)
    for span in _spans(files, limit):
        yield from _span_points(spec, span, sources).items()


def spans_by_size(sizes: Sequence[tuple[Any, int]], *, limit: int) -> list[list[Any]]:
    """Consecutive items grouped so that each group's sizes add up to at most ``limit`` (one item at least)."""
    spans: list[list[Any]] = []
    total = 0
    for item, size in sizes:
        if not spans or total + size > limit:
            spans.append([])
            total = 0
        spans[-1].append(item)
        total += size
    return spans


def _spans(files: dict[date, list[str]], limit: int) -> list[dict[date, list[str]]]:
    """Days with files, in spans of one schema and at most ``limit`` bytes of files."""
    groups: list[list[date]] = []
    schema = None
    for day, paths in files.items():
        schemas = {pq.read_schema(path).remove_metadata() for path in paths}
        if len(schemas) != 1 or next(iter(schemas)) != schema or not groups:
            groups.append([])
            schema = next(iter(schemas)) if len(schemas) == 1 else None
        groups[-1].append(day)
    spans = []
    for group in groups:
        sizes = [(day, sum(os.path.getsize(p) for p in files[day])) for day in group]
        spans += [{day: files[day] for day in span} for span in spans_by_size(sizes, limit=limit)]
    return spans


def _span_points(spec: ProductSpec, files: dict[date, list[str]], sources: DaySources) -> dict[date, DayPoints]:
    data = _read_span(spec, files, sources)
    keys = {day.isoformat(): day for day in files}
    stamps = {key: pd.Timestamp(day, tz="UTC") for key, day in keys.items()}
    parts: dict[str, list[pd.DataFrame]] = {key: [] for key in keys}
    if spec.profile is not None:
        for key, points in compute_profile_days(data, spec.profile, partition=DAY_COLUMN, ts=stamps).items():
            parts[key].append(points)
        rows = {key: _overall_rows(points[0]) for key, points in parts.items()}
    else:
        counted = pc.value_counts(data[DAY_COLUMN]).to_pylist()
        rows = {key: 0 for key in keys} | {c["values"]: int(c["counts"]) for c in counted}
        for key, n in rows.items():
            parts[key].append(points_frame([point("rows.count", {}, n, n=n)], ts=stamps[key]))
    for task in spec.evaluate:
        empty = sorted(key for key, n in rows.items() if n == 0)
        if empty:  # as the day path: a regression over no rows is an error of the run
            raise LupusValidationError("y_true", f"must not be empty (no rows on {', '.join(empty)})")
        for key, points in _regression_days(task.regression, data, stamps).items():
            parts[key].append(points)
    return {
        day: DayPoints(pd.concat(parts[key], ignore_index=True)[list(POINT_FRAME_COLUMNS)], rows=rows[key])
        for key, day in keys.items()
    }


def _read_span(spec: ProductSpec, files: dict[date, list[str]], sources: DaySources) -> pa.Table:
    """The span's rows as one Arrow table (read as the day path reads a day) with the day as text."""
    paths = [path for day_paths in files.values() for path in day_paths]
    hive = "true" if spec.source.hive_partitioning else "false"
    result = sources.connection.execute(
        f"SELECT * FROM read_parquet($files, hive_partitioning = {hive}, union_by_name = true, "
        f"filename = '{_FILE_COLUMN}')",
        {"files": paths},
    )
    table = result.to_arrow_table()
    day_of = {path: day.isoformat() for day, day_paths in files.items() for path in day_paths}
    file_column = table[_FILE_COLUMN].dictionary_encode().combine_chunks()
    names = pa.array([day_of[path] for path in file_column.dictionary.to_pylist()], pa.string())
    day_column = names.take(file_column.indices)
    table = table.drop_columns([_FILE_COLUMN])
    return table.append_column(DAY_COLUMN, day_column)


def _overall_rows(profile: pd.DataFrame) -> int:
    overall = profile[(profile["metric"] == "rows.count") & (profile["labels"].map(len) == 0)]
    return int(overall["value"].iloc[0])


def _regression_days(task: Any, data: pa.Table, stamps: dict[str, pd.Timestamp]) -> dict[str, pd.DataFrame]:
    """The task's points per day: the day prepended to its group-by columns, then split off the labels."""
    first = next(iter(stamps.values()))
    group_sets = [[DAY_COLUMN]] + ([[DAY_COLUMN, *task.group_by]] if task.group_by else [])
    grouped = [
        regression_points(data, y_true=task.y_true, y_pred=task.y_pred, group_by=by, ts=first) for by in group_sets
    ]
    out: dict[str, list[pd.DataFrame]] = {key: [] for key in stamps}
    for points in grouped:  # the day's overall group first, then its groups, as the day path orders them
        days = points["labels"].map(lambda labels: labels.get(DAY_COLUMN))
        points = points.assign(
            labels=points["labels"].map(lambda labels: {k: v for k, v in labels.items() if k != DAY_COLUMN})
        )
        for key, day_points in points[days.notna()].groupby(days[days.notna()], sort=False):
            stamp = pd.Series(stamps[key], index=day_points.index).astype(day_points["ts"].dtype)
            out[key].append(day_points.assign(ts=stamp))
    return {key: pd.concat(frames, ignore_index=True) for key, frames in out.items() if frames}
