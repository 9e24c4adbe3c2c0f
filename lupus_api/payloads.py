"""Pushed batches as bytes -> validated points frame. The request path and the ingest worker share these
parsers, so a staged batch is read back exactly as it was accepted.

Formats: ``json`` (``{"points": [MetricPoint, ...]}``), ``arrow`` (Arrow IPC stream or file) and
``parquet``; the binary formats carry columns ``metric`` (string), ``labels`` (map<string,string>,
struct of strings, or absent), ``ts`` (a timestamp type, naive means UTC; a date type, midnight
UTC; or an integer type, epoch seconds as in JSON), ``value`` (a number) and optionally ``n`` and
``stderr`` (numbers; null means unknown). Booleans are never numbers, a label key may appear once
per point, and a JSON object may not repeat a key.

A body that cannot be read as a document at all (not UTF-8, not JSON, nested deeper than
:data:`MAX_DEPTH`) raises :class:`BodyError` (the API answers 400); a document that breaks the
schema or a rule raises pydantic's ``ValidationError`` or :class:`LupusValidationError` (422).

Example:
    >>> frame = parse_batch(b'{"points": [{"metric": "rows.count", "ts": "2026-01-01", "value": 3}]}', "json")
    >>> frame[["metric", "value"]].to_dict("records")
    [{'metric': 'rows.count', 'value': 3.0}]
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NamedTuple, NotRequired

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict  # pydantic needs this TypedDict on Python < 3.12

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.schema import MetricPoint, not_a_boolean

FORMATS = ("json", "arrow", "parquet")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: JSON nesting deeper than this is refused (a batch needs 4 levels: batch, points, point, labels).
MAX_DEPTH = 32


class BodyError(ValueError):
    """The request body is not a readable document: not UTF-8, not JSON, or nested too deeply (HTTP 400)."""


def _described(name: str) -> Any:
    # The field's description, shared with MetricPoint so the API docs say the same thing.
    return Field(description=MetricPoint.model_fields[name].description)


MEDIA_TYPES = {
    "application/vnd.apache.arrow.stream": "arrow",
    "application/vnd.apache.arrow.file": "arrow",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}


# pydantic's lax mode reads true as 1.0 (and as a time): a boolean is not a number here.
_NOT_BOOL = BeforeValidator(not_a_boolean)


# Typed only: the rules (metric name, label keys and values, finite values, no duplicate series
# and ts) are checked once per batch by lupus_metrics.frames.normalize_points, vectorised, with
# errors naming field and row. TypedDicts rather than models: pydantic validates the JSON into
# plain dicts without building a model per point, which was a third of a push's CPU.
class PointIn(TypedDict):
    """One pushed point (the fields of a metric point)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    metric: Annotated[str, _described("metric")]
    labels: NotRequired[Annotated[dict[str, str], _described("labels")]]
    ts: Annotated[datetime, _NOT_BOOL, _described("ts")]
    value: Annotated[float | None, _NOT_BOOL, _described("value")]
    n: NotRequired[Annotated[float | None, _NOT_BOOL, _described("n")]]
    stderr: NotRequired[Annotated[float | None, _NOT_BOOL, _described("stderr")]]


class PointBatch(TypedDict):
    """A JSON batch of points (no other top-level field)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

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
_TS_BOUNDS = tuple(
    (datetime(year, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND for year in (TS_YEARS[0], TS_YEARS[1] + 1)
)


def validate_json_batch(body: bytes) -> list[dict[str, Any]]:
    """The points of a JSON batch, typed.

    Raises :class:`BodyError` for a body that is not a JSON document (:func:`check_document`),
    :class:`LupusValidationError` for a repeated key, and pydantic's ``ValidationError`` (locations
    name the row) for anything else the schema refuses.
    """
    document = check_document(body)
    repeated = _first_repeated_key(document)
    if repeated is not None:
        raise repeated
    return _BATCH.validate_json(body)["points"]


class _Pairs(dict):
    """A JSON object that remembers a key it saw twice (the value kept is the last, as json does)."""

    repeated: str | None = None


def _pairs(items: list[tuple[str, Any]]) -> _Pairs:
    obj = _Pairs(items)
    if len(obj) != len(items):
        seen: set[str] = set()
        obj.repeated = next(k for k, _ in items if k in seen or seen.add(k))  # type: ignore[func-returns-value]
    return obj


def check_document(body: bytes) -> Any:
    """``body`` parsed as JSON (objects as dicts that note a repeated key), or :class:`BodyError`.

    Checked in this order, each with the position in the message: UTF-8, nesting depth
    (:data:`MAX_DEPTH`; counted on the bytes before parsing, so no decoder recurses deeply),
    JSON syntax.

    >>> check_document(b'{"a": [1]}')
    {'a': [1]}
    >>> check_document(b'{"a": "\\xff"}'.replace(b"\\\\xff", b"\\xff"))
    Traceback (most recent call last):
    ...
    lupus_api.payloads.BodyError: body is not valid UTF-8: byte 0xff at position 7
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BodyError(f"body is not valid UTF-8: byte 0x{body[err.start]:02x} at position {err.start}") from None
    too_deep = _too_deep(body)
    if too_deep is not None:
        raise BodyError(f"body is nested deeper than {MAX_DEPTH} levels (at position {too_deep})")
    try:
        return json.loads(text, object_pairs_hook=_pairs)
    except json.JSONDecodeError as err:
        raise BodyError(f"body is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:  # unreachable after _too_deep; kept so that no input can become a 500
        raise BodyError(f"body is nested deeper than {MAX_DEPTH} levels") from None


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def _too_deep(body: bytes) -> int | None:
    """Where nesting first passes :data:`MAX_DEPTH` (a position in ``body`` without its strings), or None.

    Brackets inside strings do not count; the depth is a cumulative sum over the remaining bytes.
    """
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return None  # too few brackets to nest that deep
    skeleton = np.frombuffer(_STRING.sub(b"", body), dtype=np.uint8)
    steps = np.isin(skeleton, (0x5B, 0x7B)).astype(np.int32) - np.isin(skeleton, (0x5D, 0x7D))
    deep = np.flatnonzero(np.cumsum(steps) > MAX_DEPTH)
    return int(deep[0]) if len(deep) else None


def _first_repeated_key(document: Any) -> LupusValidationError | None:
    """The error naming the first object of a batch document that repeats a key (row and field)."""
    if isinstance(document, _Pairs) and document.repeated is not None:
        return LupusValidationError("body", f"key {document.repeated!r} appears twice in the batch object")
    points = document.get("points") if isinstance(document, dict) else None
    for row, point in enumerate(points if isinstance(points, list) else []):
        if not isinstance(point, _Pairs):
            continue
        if point.repeated is not None:
            return LupusValidationError(point.repeated, "appears twice in the point", row=row)
        labels = point.get("labels")
        if isinstance(labels, _Pairs) and labels.repeated is not None:
            return LupusValidationError("labels", f"key {labels.repeated!r} appears twice", row=row)
    return None


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
    # UNSET, not a default value: the repeated-key check counts the points that have the field.
    labels: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET  # kept as text: rows are grouped by it, parsed once
    n: float | msgspec.UnsetType | None = msgspec.UNSET
    stderr: float | msgspec.UnsetType | None = msgspec.UNSET


class _PlainBatch(msgspec.Struct, forbid_unknown_fields=True):  # as PointBatch: no other top-level field
    points: list[_PlainPoint]


_PLAIN_BATCH = msgspec.json.Decoder(_PlainBatch)
_NO_LABELS = b"{}"
_PLAIN_LABELS = msgspec.json.Decoder(dict[str, str])


def _colons(strings: Any) -> int:
    return sum(text.count(":") for text in strings)


def _labels_object(text: bytes) -> dict[str, str] | None:
    """A raw labels value as a dict of strings, or None if it is anything else or repeats a key."""
    try:
        labels = _PLAIN_LABELS.decode(text)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None  # the slow path says what is wrong
    # Every key is followed by one colon; the other colons are inside the keys and values. One colon more
    # than the decoded dict accounts for is a key msgspec saw twice (or an escaped colon): parsed again.
    if text.count(b":") == len(labels) + _colons(labels) + _colons(labels.values()):
        return labels
    pairs = json.loads(text.decode("utf-8"), object_pairs_hook=_pairs)
    return None if pairs.repeated is not None else labels


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
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        # Also a type msgspec does not take, such as true for a value; the slow path names what is wrong.
        return None
    unset = msgspec.UNSET
    raw_labels = [p.labels for p in points]
    ns, errors = [p.n for p in points], [p.stderr for p in points]
    pairs: dict[tuple[str, bytes], int] = {}
    rows = np.array([pairs.setdefault((p.metric, _NO_LABELS if raw is unset else bytes(raw)), len(pairs))
                     for p, raw in zip(points, raw_labels, strict=True)], dtype=np.int32)  # fmt: skip
    labels = [_labels_object(text) for _, text in pairs]
    if any(label is None for label in labels):
        return None
    stamps = pa.array([p.ts for p in points], pa.string())
    if len(stamps) and not pc.all(pc.match_substring_regex(stamps, _PLAIN_TS)).as_py():
        return None
    # msgspec keeps the last of a repeated field silently. Counted instead of parsed again (a second parse
    # cost more than the rest of a push): every key is followed by one colon, and the other colons are
    # inside strings. So the body holds one colon for 'points', one per field of each point (metric, ts,
    # value and the optional ones present), and those inside metric names, timestamps and labels texts
    # (checked above); one more is a repeated key (or an escaped colon): the slow path parses every object.
    fields = 1 + 6 * len(points) - raw_labels.count(unset) - ns.count(unset) - errors.count(unset)
    per_pair = np.array([metric.count(":") + text.count(b":") for metric, text in pairs], dtype=np.int64)
    in_ts = pc.sum(pc.count_substring(stamps, ":")).as_py() or 0
    if body.count(b":") != fields + in_ts + (int(per_pair[rows].sum()) if len(rows) else 0):
        return None
    try:
        micros = stamps.cast(pa.timestamp("us", tz="UTC")).to_numpy().view("int64")
    except pa.ArrowInvalid:
        return None  # such as February 30th: pydantic names the row
    values = np.array([p.value for p in points], dtype=np.float64)  # None becomes NaN
    return JsonPoints([metric for metric, _ in pairs], labels, micros, values, rows,
                      n=_optional_floats([None if v is unset else v for v in ns]),
                      stderr=_optional_floats([None if v is unset else v for v in errors]))  # fmt: skip


def parse_batch(body: bytes, fmt: str) -> pd.DataFrame:
    """Parse a staged or uploaded batch; :class:`LupusValidationError` names what is wrong
    (:class:`BodyError` for a JSON body that is not a document)."""
    if fmt == "json":
        try:
            return decode_json_points(body).to_frame()
        except (LupusValidationError, BodyError):
            raise
        except ValueError as err:
            raise LupusValidationError("body", f"not a valid JSON batch: {str(err).splitlines()[0]}") from None
    if fmt == "arrow":
        table = _read_arrow(body)
    elif fmt == "parquet":
        try:
            table = pq.read_table(io.BytesIO(body))
        except (pa.ArrowException, OSError) as err:
            raise LupusValidationError("body", f"not a readable Parquet file: {str(err)[:200]}") from None
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
    raise LupusValidationError("body", f"not an Arrow IPC stream or file: {errors[0][:200]}")


def _frame_from_table(table: pa.Table) -> pd.DataFrame:
    missing = [c for c in ("metric", "ts", "value") if c not in table.column_names]
    if missing:
        raise LupusValidationError(missing[0], "required column is missing")
    try:
        return _columns(table)
    except (pa.ArrowException, ValueError, TypeError, OverflowError) as err:
        if isinstance(err, LupusValidationError):
            raise
        raise LupusValidationError("body", f"columns cannot be read as points: {str(err)[:200]}") from None


def _columns(table: pa.Table) -> pd.DataFrame:
    frame = pd.DataFrame({"metric": table.column("metric").to_pylist()})
    if "labels" in table.column_names:
        frame["labels"] = [_labels(v, row) for row, v in enumerate(table.column("labels").to_pylist())]
    else:
        frame["labels"] = [{} for _ in range(len(frame))]
    ts = _timestamps(table.column("ts"))
    outside = ((ts.dt.year < TS_YEARS[0]) | (ts.dt.year > TS_YEARS[1])).to_numpy()
    if outside.any():
        row = int(outside.argmax())
        raise LupusValidationError(
            "ts", f"must lie in the years {TS_YEARS[0]}-{TS_YEARS[1]}", row=row, value=str(ts[row])
        )
    frame["ts"] = ts
    for column in ("value", "n", "stderr"):
        if column in table.column_names:
            kind = table.column(column).type
            if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
                    or pa.types.is_null(kind)):  # fmt: skip
                raise LupusValidationError(column, f"must be a column of numbers, not {kind}")
            frame[column] = table.column(column).to_pandas()
    return frame


def _timestamps(column: pa.ChunkedArray) -> pd.Series:
    """``ts`` as UTC timestamps: a timestamp type (naive means UTC), a date (midnight UTC), or an
    integer type read as epoch **seconds**, as JSON reads a number (never as Arrow's nanoseconds)."""
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        values = column.cast(pa.timestamp("us")) if pa.types.is_date(kind) else column
        return pd.to_datetime(values.to_pandas(), utc=True)
    if pa.types.is_integer(kind):
        seconds = column.cast(pa.int64()).to_numpy(zero_copy_only=False)
        lo, hi = (bound // 1_000_000 for bound in _TS_BOUNDS)
        bad = (seconds < lo) | (seconds >= hi)
        if bad.any():
            row = int(bad.argmax())
            raise LupusValidationError("ts", f"epoch seconds must lie in the years {TS_YEARS[0]}-{TS_YEARS[1]}",
                                       row=row, value=int(seconds[row]))  # fmt: skip
        return pd.Series(pd.to_datetime(seconds, unit="s", utc=True))
    raise LupusValidationError(
        "ts", f"must be a timestamp column, a date column or integer epoch seconds, not {kind}", value=None
    )


def _labels(value: object, row: int) -> dict:
    # Arrow maps arrive as lists of (key, value) pairs, structs as dicts; a JSON string is accepted too.
    if value is None:
        return {}
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    if isinstance(value, list):
        labels = dict(value)
        if len(labels) != len(value):
            seen: set[Any] = set()
            repeated = next(k for k, _ in value if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            raise LupusValidationError("labels", f"key {repeated!r} appears twice in the map", row=row)
        return labels
    if isinstance(value, str):
        try:
            parsed = json.loads(value, object_pairs_hook=_pairs)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, _Pairs):
            if parsed.repeated is not None:
                raise LupusValidationError("labels", f"key {parsed.repeated!r} appears twice", row=row)
            return dict(parsed)
    raise LupusValidationError("labels", "must be a map<string,string>, a struct of strings or a JSON object", row=row)
