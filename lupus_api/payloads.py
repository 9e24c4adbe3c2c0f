"""Pushed batches as bytes -> validated points frame. The request path and the ingest worker share these
parsers, so a staged batch is read back exactly as it was accepted.

Formats: ``json`` (``{"points": [MetricPoint, ...]}``), ``arrow`` (Arrow IPC stream or file) and
``parquet``; the binary formats carry columns ``metric`` (string), ``labels`` (map<string,string>,
struct of strings, or absent), ``ts`` (timestamp; naive means UTC) and ``value`` (float).

Example:
    >>> frame = parse_batch(b'{"points": [{"metric": "rows.count", "ts": "2026-01-01", "value": 3}]}', "json")
    >>> frame[["metric", "value"]].to_dict("records")
    [{'metric': 'rows.count', 'value': 3.0}]
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.schema import MetricPoint

FORMATS = ("json", "arrow", "parquet")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
MEDIA_TYPES = {
    "application/vnd.apache.arrow.stream": "arrow",
    "application/vnd.apache.arrow.file": "arrow",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}


class PointIn(BaseModel):
    """One pushed point: :class:`lupus_metrics.schema.MetricPoint`'s fields, typed only.

    The rules (metric name, label keys and values, finite values, no duplicate series and ts)
    are checked once per batch by :func:`lupus_metrics.frames.normalize_points`, vectorised,
    with errors naming field and row; per-point Python validators here would double the CPU
    cost of a push.
    """

    model_config = ConfigDict(extra="forbid")

    metric: str = MetricPoint.model_fields["metric"]
    labels: dict[str, str] = MetricPoint.model_fields["labels"]
    ts: datetime = MetricPoint.model_fields["ts"]
    value: float | None = MetricPoint.model_fields["value"]


class PointBatch(BaseModel):
    """A JSON batch of points."""

    points: list[PointIn] = Field(description="The points; at most `LUPUS_API_MAX_POINTS` per batch.")


_BATCH = TypeAdapter(PointBatch)


# Timestamps outside these years are typos (and outside what the store's nanosecond reads can hold).
TS_YEARS = (1900, 2199)


def frame_from_models(points: list[PointIn]) -> pd.DataFrame:
    """The points of a validated JSON batch as a frame (``metric, labels, ts, value``)."""
    micros = np.empty(len(points), dtype=np.int64)
    for row, point in enumerate(points):
        ts = point.ts
        if not TS_YEARS[0] <= ts.year <= TS_YEARS[1]:
            raise LupusValidationError("ts", f"must lie in the years {TS_YEARS[0]}-{TS_YEARS[1]}", row=row,
                                       value=ts.isoformat())
        # Integer microseconds since the epoch: exact, and far cheaper than parsing datetimes in pandas.
        micros[row] = ((ts if ts.tzinfo else ts.replace(tzinfo=UTC)) - _EPOCH) // _MICROSECOND
    return pd.DataFrame(
        {
            "metric": [p.metric for p in points],
            "labels": [p.labels for p in points],
            "ts": pd.to_datetime(micros, unit="us", utc=True),
            "value": np.array([np.nan if p.value is None else p.value for p in points], dtype=np.float64),
        }
    )


def parse_batch(body: bytes, fmt: str) -> pd.DataFrame:
    """Parse a staged or uploaded batch; :class:`LupusValidationError` names what is wrong."""
    if fmt == "json":
        try:
            batch = _BATCH.validate_json(body)
        except ValueError as err:
            raise LupusValidationError("body", f"not a valid JSON batch: {str(err).splitlines()[0]}") from None
        return frame_from_models(batch.points)
    if fmt == "arrow":
        table = _read_arrow(body)
    elif fmt == "parquet":
        try:
            table = pq.read_table(io.BytesIO(body))
        except (pa.ArrowException, OSError) as err:
            raise LupusValidationError("body", f"not a readable Parquet file: {err}") from None
    else:
        raise LupusValidationError("format", f"must be one of {', '.join(FORMATS)}", value=fmt)
    return _frame_from_table(table)


def _read_arrow(body: bytes) -> pa.Table:
    errors = []
    for opener in (ipc.open_stream, ipc.open_file):
        try:
            return opener(pa.BufferReader(body)).read_all()
        except (pa.ArrowException, OSError) as err:
            errors.append(str(err))
    raise LupusValidationError("body", f"not an Arrow IPC stream or file: {errors[0]}")


def _frame_from_table(table: pa.Table) -> pd.DataFrame:
    missing = [c for c in ("metric", "ts", "value") if c not in table.column_names]
    if missing:
        raise LupusValidationError(missing[0], "required column is missing")
    try:
        return _columns(table)
    except (pa.ArrowException, ValueError, TypeError, OverflowError) as err:
        if isinstance(err, LupusValidationError):
            raise
        raise LupusValidationError("body", f"columns cannot be read as points: {err}") from None


def _columns(table: pa.Table) -> pd.DataFrame:
    frame = pd.DataFrame({"metric": table.column("metric").to_pylist()})
    if "labels" in table.column_names:
        frame["labels"] = [_labels(v, row) for row, v in enumerate(table.column("labels").to_pylist())]
    else:
        frame["labels"] = [{} for _ in range(len(frame))]
    ts = pd.to_datetime(table.column("ts").to_pandas(), utc=True)
    outside = ((ts.dt.year < TS_YEARS[0]) | (ts.dt.year > TS_YEARS[1])).to_numpy()
    if outside.any():
        row = int(outside.argmax())
        raise LupusValidationError("ts", f"must lie in the years {TS_YEARS[0]}-{TS_YEARS[1]}", row=row, value=str(ts[row]))
    frame["ts"] = ts
    frame["value"] = table.column("value").to_pandas()
    return frame


def _labels(value: object, row: int) -> dict:
    # Arrow maps arrive as lists of (key, value) pairs, structs as dicts; a JSON string is accepted too.
    if value is None:
        return {}
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise LupusValidationError("labels", "must be a map<string,string>, a struct of strings or a JSON object", row=row)
