"""Pushed batches as bytes -> validated points frame. The request path and the ingest worker share these
parsers, so a staged batch is read back exactly as it was accepted.

Formats: ``json`` (``{"points": [MetricPoint, ...]}``), ``arrow`` (Arrow IPC stream or file) and
``parquet``; the binary formats carry columns ``metric`` (string), ``labels`` (map<string,string>,
struct of strings, or absent), ``ts`` (timestamp; naive means UTC), ``value`` (float) and
optionally ``n`` and ``stderr`` (floats; null means unknown).

Example:
    >>> frame = parse_batch(b'{"points": [{"metric": "rows.count", "ts": "2026-01-01", "value": 3}]}', "json")
    >>> frame[["metric", "value"]].to_dict("records")
    [{'metric': 'rows.count', 'value': 3.0}]
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NamedTuple, NotRequired

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from pydantic import ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict  # pydantic needs this TypedDict on Python < 3.12

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.schema import MetricPoint

FORMATS = ("json", "arrow", "parquet")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _described(name: str) -> Any:
    # The field's description, shared with MetricPoint so the API docs say the same thing.
    return Field(description=MetricPoint.model_fields[name].description)


MEDIA_TYPES = {
    "application/vnd.apache.arrow.stream": "arrow",
    "application/vnd.apache.arrow.file": "arrow",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}


# Typed only: the rules (metric name, label keys and values, finite values, no duplicate series
# and ts) are checked once per batch by lupus_metrics.frames.normalize_points, vectorised, with
# errors naming field and row. TypedDicts rather than models: pydantic validates the JSON into
# plain dicts without building a model per point, which was a third of a push's CPU.
class PointIn(TypedDict):
    """One pushed point (the fields of a metric point)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    metric: Annotated[str, _described("metric")]
    labels: NotRequired[Annotated[dict[str, str], _described("labels")]]
    ts: Annotated[datetime, _described("ts")]
    value: Annotated[float | None, _described("value")]
    n: NotRequired[Annotated[float | None, _described("n")]]
    stderr: NotRequired[Annotated[float | None, _described("stderr")]]


class PointBatch(TypedDict):
    """A JSON batch of points."""

    points: Annotated[list[PointIn], Field(description="The points; at most `LUPUS_API_MAX_POINTS` per batch.")]


_BATCH = TypeAdapter(PointBatch)


def point_batch_schema() -> dict[str, Any]:
    """The JSON schema of :class:`PointBatch`, self-contained (for the OpenAPI request body)."""
    schema = _BATCH.json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"$ref"}:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return inline(schema)


# Timestamps outside these years are typos (and outside what the store's nanosecond reads can hold).
TS_YEARS = (1900, 2199)
_TS_BOUNDS = tuple((datetime(year, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND for year in (TS_YEARS[0], TS_YEARS[1] + 1))


def validate_json_batch(body: bytes) -> list[dict[str, Any]]:
    """The points of a JSON batch, typed; raises pydantic's ``ValidationError`` (locations name the row)."""
    return _BATCH.validate_json(body)["points"]


class JsonPoints(NamedTuple):
    """The points of a JSON batch, column by column (``ts`` as int64 microseconds, UTC; ``values`` float64).

    With ``rows``, ``metrics`` and ``labels`` list the batch's distinct (metric, labels) pairs and
    ``rows`` gives each point's pair; without it they hold one entry per point. ``n`` and ``stderr``
    are float64 per point (NaN: unknown), or None when no point of the batch has one.
    """

    metrics: list[Any]
    labels: list[Any]
    ts: np.ndarray
    values: np.ndarray
    rows: np.ndarray | None = None
    n: np.ndarray | None = None
    stderr: np.ndarray | None = None

    def to_frame(self) -> pd.DataFrame:
        """The points as a frame (``metric, labels, ts, value``)."""
        metrics, labels = self.metrics, self.labels
        if self.rows is not None:
            picks = self.rows.tolist()
            metrics, labels = [metrics[i] for i in picks], [labels[i] for i in picks]
        frame = pd.DataFrame({"metric": metrics, "labels": labels,
                              "ts": pd.DatetimeIndex(self.ts.view("datetime64[us]")).tz_localize("UTC"),
                              "value": self.values})  # fmt: skip
        for column, values in (("n", self.n), ("stderr", self.stderr)):
            if values is not None:
                frame[column] = values
        return frame


def decode_json_points(body: bytes) -> JsonPoints:
    """The points of a JSON batch as columns.

    Raises pydantic's ``ValidationError`` (locations name the row) for a body that is not a
    batch, and :class:`LupusValidationError` for a timestamp outside :data:`TS_YEARS`.

    Example:
        >>> points = decode_json_points(b'{"points": [{"metric": "m", "ts": "2026-01-01T00:00:00Z", "value": 3}]}')
        >>> points.metrics, points.labels, points.ts.tolist(), points.values.tolist()
        (['m'], [{}], [1767225600000000], [3.0])
    """
    points = _plain_json_points(body)
    if points is None:
        points = _typed_json_points(validate_json_batch(body))
    outside = (points.ts < _TS_BOUNDS[0]) | (points.ts >= _TS_BOUNDS[1])
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        moment = (_EPOCH + timedelta(microseconds=int(points.ts[row]))).isoformat()
        raise LupusValidationError("ts", f"must lie in the years {TS_YEARS[0]}-{TS_YEARS[1]}", row=row, value=moment)
    return points


def _typed_json_points(points: list[dict[str, Any]]) -> JsonPoints:
    # Arrow converts the datetimes (aware ones to UTC, naive ones as UTC) in C, twice as fast as Python.
    micros = pa.array([p["ts"] for p in points], type=pa.timestamp("us", tz="UTC")).to_numpy().view("int64")
    return JsonPoints(
        [p["metric"] for p in points],
        [p.get("labels", {}) for p in points],
        micros,
        _floats([p["value"] for p in points]),
        n=_optional_floats([p.get("n") for p in points]),
        stderr=_optional_floats([p.get("stderr") for p in points]),
    )


def _floats(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _optional_floats(values: list[float | None]) -> np.ndarray | None:
    """A per-point optional number as floats (NaN: absent), or None when no point has it."""
    return None if all(v is None for v in values) else _floats(values)


# The plain form every client library sends: RFC 3339 timestamps with an offset, numbers or null.
_PLAIN_TS = r"^(19|20|21)\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$"


class _PlainPoint(msgspec.Struct, forbid_unknown_fields=True):
    metric: str
    ts: str
    value: float | None
    labels: msgspec.Raw = msgspec.Raw(b"{}")  # kept as text: equal rows are grouped by it, parsed once
    n: float | None = None
    stderr: float | None = None


class _PlainBatch(msgspec.Struct):  # other top-level fields are ignored, as PointBatch ignores them
    points: list[_PlainPoint]


_PLAIN_BATCH = msgspec.json.Decoder(_PlainBatch)
_PLAIN_LABELS = msgspec.json.Decoder(dict[str, str])


def _plain_json_points(body: bytes) -> JsonPoints | None:
    """The points of a batch in the plain form, or None for anything else (pydantic then decides).

    Written by hand because pydantic, validating each point as a dict of typed fields, cost more
    than the rest of a push. Here msgspec decodes the batch into typed structs, keeping each
    point's labels as raw text; the rows are grouped by (metric, labels text), each group's labels
    parsed once, and the timestamps checked and parsed by Arrow in one call. It accepts only what
    :data:`PointBatch` accepts, with the same result (a test compares both on generated batches);
    any other form, valid or not, goes to pydantic, so errors still name the row and field.
    """
    try:
        points = _PLAIN_BATCH.decode(body).points
    except msgspec.DecodeError:  # also a type msgspec does not take, such as true for a value
        return None
    pairs: dict[tuple[str, bytes], int] = {}
    rows = [pairs.setdefault((p.metric, bytes(p.labels)), len(pairs)) for p in points]
    try:
        labels = [_PLAIN_LABELS.decode(text) for _, text in pairs]
    except msgspec.DecodeError:
        return None
    stamps = pa.array([p.ts for p in points], pa.string())
    if len(stamps) and not pc.all(pc.match_substring_regex(stamps, _PLAIN_TS)).as_py():
        return None
    try:
        micros = stamps.cast(pa.timestamp("us", tz="UTC")).to_numpy().view("int64")
    except pa.ArrowInvalid:
        return None  # such as February 30th: pydantic names the row
    values = np.array([p.value for p in points], dtype=np.float64)  # None becomes NaN
    return JsonPoints([metric for metric, _ in pairs], labels, micros, values, np.array(rows, dtype=np.int32),
                      n=_optional_floats([p.n for p in points]), stderr=_optional_floats([p.stderr for p in points]))


def parse_batch(body: bytes, fmt: str) -> pd.DataFrame:
    """Parse a staged or uploaded batch; :class:`LupusValidationError` names what is wrong."""
    if fmt == "json":
        try:
            return decode_json_points(body).to_frame()
        except LupusValidationError:
            raise
        except ValueError as err:
            raise LupusValidationError("body", f"not a valid JSON batch: {str(err).splitlines()[0]}") from None
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
    for column in ("n", "stderr"):
        if column in table.column_names:
            frame[column] = table.column(column).to_pandas()
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
