"""Metric-point frames built by the evaluation, drift and churn functions.

One place turns ``(metric, labels, value, n, stderr)`` rows into the frame that
:func:`lupus_metrics.frames.normalize_points` accepts, and splits inputs by group.

Example:
    >>> points_frame([point("rows.count", {"region": "JP"}, 3, n=3)], ts="2026-01-01").to_dict("records")
    [{'metric': 'rows.count', 'labels': {'region': 'JP'}, 'ts': Timestamp('2026-01-01 00:00:00+0000', tz='UTC'), 'value': 3.0, 'n': 3.0, 'stderr': nan}]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError

#: ``(metric, labels, value, n, stderr)``; n and stderr NaN when undefined (see :func:`point`).
PointRow = tuple[str, Mapping[str, str], float, float, float]
POINT_FRAME_COLUMNS = ("metric", "labels", "ts", "value", "n", "stderr")


def point(
    metric: str, labels: Mapping[str, str], value: float, *, n: float = np.nan, stderr: float = np.nan
) -> PointRow:
    """One point row: ``n`` is the support behind the value, ``stderr`` its standard error (NaN: undefined).

    >>> point("churn.rate", {}, 0.25, n=4)
    ('churn.rate', {}, 0.25, 4.0, nan)
    """
    return (metric, labels, float(value), float(n), float(stderr))


def partition_ts(ts: object) -> pd.Timestamp:
    """The partition time as a UTC timestamp (naive means UTC).

    >>> partition_ts("2026-01-01")
    Timestamp('2026-01-01 00:00:00+0000', tz='UTC')
    """
    if ts is None:
        raise LupusValidationError("ts", "the partition time is required (keyword ts=...)")
    try:
        stamp = pd.Timestamp(ts)
    except (ValueError, TypeError):
        raise LupusValidationError("ts", "must be a timestamp (naive timestamps are read as UTC)", value=ts) from None
    if stamp is pd.NaT:
        raise LupusValidationError("ts", "must be a timestamp, not NaT", value=ts)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def points_frame(rows: Iterable[PointRow], *, ts: object) -> pd.DataFrame:
    """A points frame (``metric, labels, ts, value, n, stderr``) from :data:`PointRow` rows, all at ``ts``.

    >>> points_frame([], ts="2026-01-01").columns.tolist()
    ['metric', 'labels', 'ts', 'value', 'n', 'stderr']
    """
    stamp = partition_ts(ts)
    rows = list(rows)
    return pd.DataFrame(
        {
            "metric": [r[0] for r in rows],
            "labels": [dict(r[1]) for r in rows],
            "ts": pd.Series([stamp] * len(rows), dtype="datetime64[us, UTC]"),
            "value": np.asarray([r[2] for r in rows], dtype="float64"),
            "n": np.asarray([r[3] for r in rows], dtype="float64"),
            "stderr": np.asarray([r[4] for r in rows], dtype="float64"),
        },
        columns=list(POINT_FRAME_COLUMNS),
    )


def label_value(value: object) -> str:
    """A label value as text: integers without a trailing ``.0``, everything else through ``str``.

    >>> label_value(np.int64(3)), label_value(3.0), label_value("JP")
    ('3', '3', 'JP')
    """
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def require_columns(frame: object, name: str, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` if it is a DataFrame holding ``columns``, else a :class:`LupusValidationError` naming ``name``."""
    if not isinstance(frame, pd.DataFrame):
        raise LupusValidationError(name, "must be a pandas DataFrame", value=type(frame).__name__)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LupusValidationError(
            name,
            f"required column {missing[0]!r} is missing (required: {', '.join(columns)})",
            value=list(frame.columns),
        )
    return frame


def group_columns(group_by: str | Sequence[str] | None) -> list[str]:
    """``group_by`` as a list of column names (``None`` means no grouping)."""
    if group_by is None:
        return []
    if isinstance(group_by, str):
        return [group_by]
    columns = list(group_by)
    if not all(isinstance(c, str) for c in columns):
        raise LupusValidationError("group_by", "must be a column name or a list of column names", value=group_by)
    return columns


def group_codes(
    frame: pd.DataFrame, columns: Sequence[str], *, where: str = "group_by"
) -> tuple[np.ndarray, list[dict[str, str]]]:
    """Integer group code per row and the labels of each group (missing group values are rejected).

    >>> codes, labels = group_codes(pd.DataFrame({"region": ["JP", "US", "JP"]}), ["region"])
    >>> codes.tolist(), labels
    ([0, 1, 0], [{'region': 'JP'}, {'region': 'US'}])
    """
    if not columns:
        return np.zeros(len(frame), dtype=np.int64), [{}]
    for column in columns:
        if column not in frame.columns:
            raise LupusValidationError(where, f"column {column!r} is not in the frame", value=list(frame.columns))
        if frame[column].isna().any():
            row = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
            raise LupusValidationError(column, "group values must not be missing", row=row)
    keys = frame[list(columns)].reset_index(drop=True)
    codes, uniques = pd.MultiIndex.from_frame(keys).factorize() if len(columns) > 1 else pd.factorize(keys[columns[0]])
    labels = [
        {c: label_value(v) for c, v in zip(columns, u if len(columns) > 1 else (u,), strict=True)} for u in uniques
    ]
    return codes.astype(np.int64), labels


def iter_groups(frame: pd.DataFrame, columns: Sequence[str]) -> Iterator[tuple[dict[str, str], np.ndarray]]:
    """Yield ``(labels, row_positions)``: first all rows with no labels, then each group (when ``columns``).

    >>> [(labels, rows.tolist()) for labels, rows in iter_groups(pd.DataFrame({"g": ["a", "b", "a"]}), ["g"])]
    [({}, [0, 1, 2]), ({'g': 'a'}, [0, 2]), ({'g': 'b'}, [1])]
    """
    yield {}, np.arange(len(frame))
    if not columns:
        return
    codes, labels = group_codes(frame, columns)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
    for g, group_labels in enumerate(labels):
        yield group_labels, order[bounds[g] : bounds[g + 1]]


def with_labels(base: Mapping[str, str], **extra: Any) -> dict[str, str]:
    """``base`` labels plus ``extra`` ones, values turned into text.

    >>> with_labels({"region": "JP"}, k=10)
    {'region': 'JP', 'k': '10'}
    """
    return {**base, **{key: label_value(value) for key, value in extra.items()}}
