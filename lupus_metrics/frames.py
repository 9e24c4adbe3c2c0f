"""Validation of metric-point and anomaly DataFrames before they are stored or sent.

Every front door (the store, the API, the Dagster assets) funnels frames through
:func:`normalize_points` / :func:`normalize_anomalies`, so the rules live once.
Errors name the column, the first offending row (its position in the frame) and the rule.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"metric": ["rows.count"], "labels": [{"region": "JP"}],
    ...                    "ts": ["2026-01-01"], "value": [1200]})
    >>> normalize_points(df, "ds")[["metric", "series_id", "value"]].to_dict("records")
    [{'metric': 'rows.count', 'series_id': '...', 'value': 1200.0}]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.schema import (
    ANOMALY_INPUT_COLUMNS,
    POINT_INPUT_COLUMNS,
    POINT_NOISE_COLUMNS,
    series_id,
    validate_datasource,
    validate_labels,
    validate_metric_name,
)

_UTC_MICROS = pd.DatetimeTZDtype("us", "UTC")


class SeriesIdentity(NamedTuple):
    """One distinct series of a batch: its metric, validated labels and series id."""

    metric: str
    labels: dict[str, str]
    series_id: str


@dataclass(frozen=True)
class NormalizedPoints:
    """Validated points, column by column: each distinct series once, each row a code into them.

    The rules of :func:`normalize_points` without a DataFrame: the API validates and stages
    hundreds of pushed batches a second in this form and never builds a frame for them.
    Build one with :meth:`from_columns` or :meth:`from_frame`; :meth:`to_frame` gives
    :func:`normalize_points`' frame.

    Example:
        >>> points = NormalizedPoints.from_columns(
        ...     "ds", ["rows.count", "rows.count"], [{"region": "JP"}, {"region": "JP"}],
        ...     ts=np.array([0, 86_400_000_000]), values=np.array([1.0, None], dtype=float))
        >>> len(points), [s.labels for s in points.series], points.codes.tolist()
        (2, [{'region': 'JP'}], [0, 0])
        >>> points.to_frame()["ts"].astype(str).tolist()
        ['1970-01-01 00:00:00+00:00', '1970-01-02 00:00:00+00:00']
    """

    series: list[SeriesIdentity]
    codes: np.ndarray  # int32 per row: its series' position in ``series``
    ts: np.ndarray  # int64 per row: microseconds since the epoch, UTC
    values: np.ndarray  # float64 per row; NaN means missing
    # float64 per row (NaN: unknown), or None when no row of the batch has one: most pushed batches
    # carry neither, and the API validates hundreds of them a second.
    n: np.ndarray | None = None
    stderr: np.ndarray | None = None

    @classmethod
    def from_columns(
        cls,
        datasource: str,
        metrics: Sequence[Any],
        labels: Sequence[Any],
        *,
        ts: np.ndarray,
        values: np.ndarray,
        rows: np.ndarray | None = None,
        n: np.ndarray | None = None,
        stderr: np.ndarray | None = None,
    ) -> NormalizedPoints:
        """Validate points given as columns; ``ts`` as int64 microseconds (UTC), ``values`` as floats.

        ``n`` and ``stderr`` (optional floats per row, NaN for unknown) must be finite and >= 0.

        With ``rows``, ``metrics`` and ``labels`` list distinct (metric, labels) pairs and ``rows``
        gives each row's pair: a decoder that grouped equal rows spares the look-up per row.
        Errors name the row either way.
        """
        validate_datasource(datasource)
        try:
            codes, series = _series_codes(metrics, labels, datasource)
        except LupusValidationError as err:
            if rows is None or err.row is None:
                raise
            first = int(np.flatnonzero(rows == err.row)[0])  # pairs are listed in the order of their first rows
            raise LupusValidationError(err.where, err.rule, row=first, value=err.value) from None
        if rows is not None:
            codes = codes[rows]
        points = cls(series, codes, np.asarray(ts, dtype=np.int64), _finite(np.asarray(values, dtype=np.float64), "value"),
                     _noise(n, "n"), _noise(stderr, "stderr"))  # fmt: skip
        row = points.first_repeat()
        if row is not None:
            points._duplicate(row)
        return points

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, datasource: str) -> NormalizedPoints:
        """Validate a points frame (the input of :func:`normalize_points`)."""
        frame = _require_columns(frame, POINT_INPUT_COLUMNS)
        ts = pd.DatetimeIndex(_ts_column(frame["ts"])).asi8  # microseconds: _ts_column gives that unit
        noise = {c: _float_column(frame, c) for c in POINT_NOISE_COLUMNS if c in frame.columns}
        return cls.from_columns(datasource, frame["metric"].tolist(), frame["labels"].tolist(), ts=ts,
                                values=_float_column(frame, "value"), **noise)  # fmt: skip

    @classmethod
    def concat(cls, parts: Sequence[NormalizedPoints]) -> NormalizedPoints:
        """The rows of ``parts`` in order, each series once (not checked for repeated series and ts)."""
        series: list[SeriesIdentity] = []
        by_id: dict[str, int] = {}
        codes = []
        for part in parts:
            remap = []
            for identity in part.series:
                code = by_id.get(identity.series_id)
                if code is None:
                    code = by_id[identity.series_id] = len(series)
                    series.append(identity)
                remap.append(code)
            codes.append(np.array(remap, dtype=np.int32)[part.codes] if len(part.codes) else part.codes)
        if not parts:
            return cls([], np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.float64))
        return cls(series, np.concatenate(codes), np.concatenate([p.ts for p in parts]),
                   np.concatenate([p.values for p in parts]),
                   _concat_noise([p.n for p in parts], parts), _concat_noise([p.stderr for p in parts], parts))  # fmt: skip

    def take(self, rows: np.ndarray) -> NormalizedPoints:
        """The given rows (positions or a boolean mask); the series list is kept whole."""
        return NormalizedPoints(self.series, self.codes[rows], self.ts[rows], self.values[rows],
                                None if self.n is None else self.n[rows],
                                None if self.stderr is None else self.stderr[rows])  # fmt: skip

    def noise(self, column: str) -> np.ndarray:
        """``n`` or ``stderr`` per row as float64, NaN where unknown (also when the batch has none)."""
        values = self.n if column == "n" else self.stderr
        return np.full(len(self.codes), np.nan) if values is None else values

    def first_repeat(self) -> int | None:
        """The first row whose series and ts repeat an earlier row's, or None."""
        return _first_repeat([self.ts, self.codes])

    def __len__(self) -> int:
        return len(self.codes)

    def to_frame(self) -> pd.DataFrame:
        """The frame :func:`normalize_points` returns: ``metric, labels, series_id, ts, value, n, stderr``."""
        metrics, labels, ids = _rows(self.series, self.codes)
        # One constructor call: pandas' fixed cost per frame and per inserted column (about 0.1 ms
        # each) mattered for the API, which validates hundreds of small batches a second.
        return pd.DataFrame({"metric": metrics, "labels": labels, "series_id": ids, "ts": _utc(self.ts),
                             "value": self.values, "n": self.noise("n"), "stderr": self.noise("stderr")})  # fmt: skip

    def _duplicate(self, row: int) -> None:
        metric, labels, _ = self.series[self.codes[row]]
        raise LupusValidationError(
            "ts", f"duplicate (series, ts): metric {metric!r} labels {labels} appears twice at {_utc(self.ts[row : row + 1])[0]}",
            row=row)  # fmt: skip


def normalize_points(points: pd.DataFrame, datasource: str) -> pd.DataFrame:
    """Validate a points frame and return a new one with ``series_id`` added and types fixed.

    Input columns: ``metric`` (str), ``labels`` (dict[str, str] or None), ``ts``
    (datetime-like; naive means UTC; numbers are epoch seconds, as in the API), ``value`` (float; NaN/None mean missing and are kept), and
    optionally ``n`` and ``stderr`` (finite floats >= 0; NaN/None mean unknown; absent columns
    come back as NaN). Raises :class:`LupusValidationError` for a missing column, a malformed metric or
    label, an unparsable timestamp, a non-numeric or infinite value, or a duplicate
    (series, ts) pair.
    """
    return NormalizedPoints.from_frame(points, datasource).to_frame()


def normalize_anomalies(anomalies: pd.DataFrame, datasource: str) -> pd.DataFrame:
    """Validate an anomaly frame (see :data:`lupus_metrics.schema.ANOMALY_INPUT_COLUMNS`).

    ``params`` (optional) may hold dicts, which are stored as canonical JSON;
    ``run_id`` is optional. The same series/ts/detector may appear only once.
    """
    validate_datasource(datasource)
    frame = _require_columns(anomalies, ANOMALY_INPUT_COLUMNS)
    codes, series = _series_codes(frame["metric"].tolist(), frame["labels"].tolist(), datasource)
    metrics, labels, ids = _rows(series, codes)
    ts = _ts_column(frame["ts"])
    columns: dict[str, Any] = {"metric": metrics, "labels": labels, "series_id": ids, "ts": ts}
    for column in ("value", "expected", "lower", "upper", "score"):
        columns[column] = _float_column(frame, column)
    flags = frame["is_anomaly"]
    bad = ~flags.map(lambda v: isinstance(v, (bool, np.bool_)))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise LupusValidationError("is_anomaly", "must be True or False", row=row, value=flags.iloc[row])
    columns["is_anomaly"] = flags.astype(bool).to_numpy()
    detectors = frame["detector"]
    for row, name in enumerate(detectors):
        if not isinstance(name, str) or not name:
            raise LupusValidationError("detector", "must be a non-empty string", row=row, value=name)
    columns["detector"] = detectors.to_numpy(dtype=object)
    params = frame["params"] if "params" in frame.columns else [None] * len(frame)
    columns["params"] = [_params_json(p, row) for row, p in enumerate(params)]
    row = _first_repeat([pd.DatetimeIndex(ts).asi8, pd.factorize(columns["detector"])[0], codes])
    if row is not None:
        metric, labels_of_row, _ = series[codes[row]]
        raise LupusValidationError(
            "ts", f"duplicate (series, ts, detector): metric {metric!r} labels {labels_of_row} appears twice at {ts[row]}",
            row=row)  # fmt: skip
    return pd.DataFrame(columns)


def _require_columns(frame: Any, required: Iterable[str]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise LupusValidationError("points", "must be a pandas DataFrame", value=type(frame).__name__)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise LupusValidationError(
            missing[0], f"required column is missing (required: {', '.join(required)})", value=list(frame.columns)
        )
    return frame  # columns are read by position below, whatever the index


def _series_codes(
    metrics: Sequence[Any], labels: Sequence[Any], datasource: str
) -> tuple[np.ndarray, list[SeriesIdentity]]:
    """Each row's series (a code into the list of distinct series), validating metric and labels."""
    codes: list[int] = []
    series: list[SeriesIdentity] = []
    # Keyed by the labels in their given order first (no sort per row); rows listing a series'
    # labels in another order cost one more key but get the same code, through the series id.
    by_key: dict[tuple[Any, Any], int] = {}
    by_id: dict[str, int] = {}
    for row, (metric, raw) in enumerate(zip(metrics, labels, strict=True)):
        try:
            key = (metric, tuple(raw.items())) if isinstance(raw, dict) else (metric, _labels_key(raw))
            code = by_key.get(key)
            if code is None:
                clean, sid = _series_identity(datasource, metric, _labels_key(raw))
                code = by_id.get(sid)
                if code is None:  # a copy: the validated labels are cached across calls
                    code = by_id[sid] = len(series)
                    series.append(SeriesIdentity(metric, dict(clean), sid))
                by_key[key] = code
        except (LupusValidationError, TypeError):
            # Slow path only to name the offending row precisely.
            validate_metric_name(metric, row=row)
            validate_labels(None if _is_missing(raw) else raw, row=row)
            raise
        codes.append(code)
    return np.array(codes, dtype=np.int32), series


def _rows(series: list[SeriesIdentity], codes: np.ndarray) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """Metric, labels and series id of every row (rows of one series share its labels dict)."""
    of_rows = [series[code] for code in codes.tolist()]
    return [s.metric for s in of_rows], [s.labels for s in of_rows], [s.series_id for s in of_rows]


def _utc(micros: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(micros.view("datetime64[us]")).tz_localize("UTC")


def _labels_key(raw: Any) -> Any:
    if _is_missing(raw):
        return ()
    if isinstance(raw, Mapping):
        try:
            return tuple(sorted(raw.items()))
        except TypeError:  # keys of mixed types: sort by their text, and let validation reject them
            return tuple(sorted(raw.items(), key=lambda item: str(item[0])))
    return raw  # not a mapping: _series_identity rejects it


@lru_cache(maxsize=200_000)
def _series_identity(datasource: str, metric: Any, labels_key: Any) -> tuple[dict[str, str], str]:
    # Writers send the same series every day: validating and hashing each distinct series once pays off.
    validate_metric_name(metric)
    if not isinstance(labels_key, tuple):
        raise TypeError("labels must be a mapping")
    clean = validate_labels(dict(labels_key))
    return clean, series_id(datasource, metric, clean)


def _ts_column(ts: pd.Series) -> pd.Series:
    if isinstance(ts.dtype, pd.DatetimeTZDtype) and ts.dtype == _UTC_MICROS and not ts.isna().any():
        return ts.reset_index(drop=True)  # already what the store keeps (the API's frames are)
    if _numbers(ts):
        # Numbers are epoch seconds, as the API reads them in JSON and Arrow (not pandas' nanoseconds).
        ts = pd.Series(pd.to_datetime(pd.to_numeric(ts), unit="s", utc=True, errors="coerce"), index=ts.index)
    if pd.api.types.is_datetime64_any_dtype(ts):
        parsed = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
        if not parsed.isna().any():
            return parsed.dt.as_unit("us").reset_index(drop=True)
    try:
        parsed = pd.to_datetime(ts, utc=True, format="mixed")
    except (ValueError, TypeError):
        parsed = None
    if parsed is not None and not parsed.isna().any():
        return parsed.dt.as_unit("us").reset_index(drop=True)
    # Find the first row that does not parse, to name it.
    for row, value in enumerate(ts.tolist()):
        try:
            if pd.isna(pd.to_datetime(value, utc=True)):
                raise ValueError
        except (ValueError, TypeError):
            raise LupusValidationError(
                "ts", "must be a timestamp (naive timestamps are read as UTC)", row=row, value=value
            ) from None
    raise LupusValidationError("ts", "must be timestamps")  # unreachable in practice: every row parsed alone


def _numbers(column: pd.Series) -> bool:
    """Whether ``column`` holds numbers (not booleans) rather than times or text."""
    if pd.api.types.is_bool_dtype(column):
        return False
    if pd.api.types.is_numeric_dtype(column):
        return True
    return (
        column.dtype == object
        and len(column) > 0
        and all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in column
        )
    )


def _float_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    raw = frame[column]
    if raw.dtype == object:
        bad_type = raw.map(
            lambda v: not (v is None or isinstance(v, (int, float, np.integer, np.floating))) or isinstance(v, bool)
        )
        if bad_type.any():
            row = int(np.flatnonzero(bad_type.to_numpy())[0])
            raise LupusValidationError(
                column, "must be a number (NaN or None mean missing)", row=row, value=raw.iloc[row]
            )
    elif not (pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)):
        raise LupusValidationError(column, f"must be numeric, not {raw.dtype}")
    return _finite(pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64", na_value=np.nan), column)


def _finite(values: np.ndarray, column: str) -> np.ndarray:
    infinite = np.isinf(values)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise LupusValidationError(
            column, "must be finite (NaN means missing; infinity is rejected)", row=row, value=values[row]
        )
    return values


def _noise(values: Any, column: str) -> np.ndarray | None:
    """An optional ``n``/``stderr`` column: finite and >= 0 where known; None when no row has one."""
    if values is None:
        return None
    values = _finite(np.asarray(values, dtype=np.float64), column)
    negative = values < 0
    if negative.any():
        row = int(np.flatnonzero(negative)[0])
        raise LupusValidationError(column, "must be >= 0 (NaN means unknown)", row=row, value=values[row])
    return None if np.isnan(values).all() else values


def _concat_noise(columns: list[np.ndarray | None], parts: Sequence[NormalizedPoints]) -> np.ndarray | None:
    if all(c is None for c in columns):
        return None
    return np.concatenate(
        [np.full(len(p.codes), np.nan) if c is None else c for c, p in zip(columns, parts, strict=True)]
    )


def _first_repeat(keys: list[np.ndarray]) -> int | None:
    """The first row whose keys (the last one sorts first) repeat an earlier row's, or None."""
    if len(keys[0]) < 2:
        return None
    # Sorted keys compared with their neighbours: DataFrame.duplicated costs about 1 ms even for
    # two rows, and the API checks every pushed batch.
    order = np.lexsort(keys)  # stable: equal keys keep their row order
    same = np.ones(len(order) - 1, dtype=bool)
    for key in keys:
        ordered = key[order]
        same &= ordered[1:] == ordered[:-1]
    return int(order[1:][same].min()) if same.any() else None


def _params_json(params: Any, row: int) -> str | None:
    if _is_missing(params):
        return None
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except json.JSONDecodeError:
            raise LupusValidationError("params", "must be a mapping or its JSON text", row=row, value=params) from None
    if not isinstance(params, dict):
        raise LupusValidationError("params", "must be a mapping of detector parameters", row=row, value=params)
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
