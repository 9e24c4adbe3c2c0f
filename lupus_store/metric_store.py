"""The metric store: Hive-layout Parquet written atomically, read with DuckDB.

Example:
    >>> import tempfile, pandas as pd
    >>> store = MetricStore(tempfile.mkdtemp())
    >>> points = pd.DataFrame({"metric": ["rows.count", "rows.count"],
    ...                        "labels": [{"region": "JP"}, {"region": "US"}],
    ...                        "ts": ["2026-01-01", "2026-01-01"], "value": [1200.0, 800.0]})
    >>> store.write_points("demo", points, day="2026-01-01", writer="metrics").rows
    2
    >>> store.read_points("demo", labels={"region": "JP"})[["metric", "value"]].to_dict("records")
    [{'metric': 'rows.count', 'value': 1200.0}]
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.frames import NormalizedPoints, normalize_anomalies, normalize_points
from lupus_metrics.schema import (
    ANOMALY_COLUMNS,
    ANOMALY_SCHEMA,
    LABELS_TYPE,
    POINT_COLUMNS,
    POINT_SCHEMA,
    TS_TYPE,
    validate_datasource,
    validate_labels,
)
from lupus_store import layout
from lupus_store.location import TMP_SUFFIX, StoreLocation

# A point's ts may sit up to this far from its partition day (partitions in a product's
# timezone, ts in UTC). Reads widen their date pruning by the same margin.
DAY_MARGIN = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Temporary files older than this are leftovers of killed writers; compaction removes them.
STALE_TMP_SECONDS = 3600


@dataclass(frozen=True)
class _Table:
    name: str
    schema: pa.Schema
    normalize: Callable[[pd.DataFrame, str], pd.DataFrame]
    columns: tuple[str, ...]


POINTS = _Table("points", POINT_SCHEMA, normalize_points, POINT_COLUMNS)
ANOMALIES = _Table("anomalies", ANOMALY_SCHEMA, normalize_anomalies, ANOMALY_COLUMNS)
_TABLE_BY_NAME = {table.name: table for table in (POINTS, ANOMALIES)}

_EMPTY_DTYPES: dict[str, str] = {
    "metric": "object", "labels": "object", "series_id": "object", "ts": "datetime64[us, UTC]",
    "value": "float64", "n": "float64", "stderr": "float64", "expected": "float64", "lower": "float64", "upper": "float64", "score": "float64",
    "is_anomaly": "bool", "detector": "object", "params": "object", "run_id": "object", "source": "object",
    "writer": "object", "day": "object", "points": "int64", "first_ts": "datetime64[us, UTC]", "last_ts": "datetime64[us, UTC]",
}  # fmt: skip


@dataclass
class _FileSet:
    files: list[str] = field(default_factory=list)
    # "<compacted file>|<writer>|<day>" entries whose rows a newer day file supersedes.
    shadowed: list[str] = field(default_factory=list)
    days: set[date] = field(default_factory=set)


_NOT_SHADOWED = "NOT list_contains(?, filename || '|' || writer || '|' || strftime(day, '%Y-%m-%d'))"


@dataclass
class _Filters:
    """Row filters of a read, rendered as DuckDB SQL with parameters."""

    metrics: list[str] | None = None
    series_ids: list[str] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    where: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, metrics: Any, start: Any, end: Any, labels: Any, series_ids: Any, where: Iterable[str]) -> _Filters:
        start_ts, end_ts = _time_range(start, end)
        return cls(
            metrics=None if metrics is None else ([metrics] if isinstance(metrics, str) else list(metrics)),
            series_ids=None if series_ids is None else list(series_ids),
            labels=validate_labels(labels),
            start=start_ts,
            end=end_ts,
            where=list(where),
        )

    def sql(self) -> tuple[list[str], list[Any]]:
        clauses, params = list(self.where), []
        # `IN (?, ...)` rather than list_contains: DuckDB pushes it into the Parquet scan.
        for column, values in (("metric", self.metrics), ("series_id", self.series_ids)):
            if values is not None:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})" if values else "false")
                params.extend(values)
        for key, value in self.labels.items():
            clauses.append("labels[?] = ?")
            params.extend([key, value])
        if self.start is not None:
            clauses.append("ts >= ?")
            params.append(self.start.to_pydatetime())
        if self.end is not None:
            clauses.append("ts <= ?")
            params.append(self.end.to_pydatetime())
        return clauses, params


@dataclass(frozen=True)
class WriteResult:
    """What a write did: the file it replaced (or removed, for an empty frame) and how many rows it holds."""

    path: str
    rows: int


@dataclass
class CompactionReport:
    """What :meth:`MetricStore.compact` did."""

    months_compacted: int = 0
    files_before: int = 0
    files_after: int = 0
    stale_tmp_removed: int = 0
    details: list[str] = field(default_factory=list)


class MetricStore:
    """Metric points and anomalies of every datasource, stored forever.

    ``root`` is a local directory or ``s3://bucket/prefix``; S3 endpoint and credentials
    come from ``storage_options`` (s3fs options) or the environment (see
    :mod:`lupus_store.location`). Safe to share between threads.
    """

    def __init__(self, root: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None):
        self.location = StoreLocation.parse(root, storage_options)
        self._connection_lock = threading.Lock()
        self._connection: duckdb.DuckDBPyConnection | None = None

    def __repr__(self) -> str:
        return f"MetricStore({self.location.url!r})"

    @property
    def root(self) -> str:
        return self.location.url

    # ---- writing -----------------------------------------------------------------------------

    def write_points(
        self,
        datasource: str,
        points: pd.DataFrame | NormalizedPoints,
        *,
        day: date | str,
        writer: str,
        source: str | None = None,
        run_id: str | None = None,
        seq: int | np.ndarray | None = None,
    ) -> WriteResult:
        """Replace ``writer``'s points of ``datasource`` on ``day`` with ``points``, atomically.

        ``points`` has columns ``metric``, ``labels`` (dict[str, str]), ``ts``, ``value``.
        Every ts must lie within one day of ``day`` (UTC). The whole frame is validated
        first; on any error nothing is written. An empty frame removes the writer's file.
        ``source`` (``asset``, ``push``, ``mlflow``...) and ``run_id`` record provenance.

        ``seq`` is the write order of the rows (nanoseconds since the epoch, one for all rows or
        one per row; default: now). When writers store the same series and ts, reads return the
        row with the highest ``seq`` (last write wins); the API passes each pushed batch's
        acceptance time, so a retried push replaces the earlier one however the batches were grouped.

        ``points`` may also be :class:`~lupus_metrics.frames.NormalizedPoints` of this
        datasource, validated when they were built (the API's ingest worker stages pushed
        batches in that form): the point rules are not checked again (they cost as much as
        the write), the day range is, and no DataFrame is built.
        """
        seq = time.time_ns() if seq is None else seq
        if isinstance(points, NormalizedPoints):
            return self._write_normalized(datasource, points, day, writer, source, run_id, seq)
        frame = self._prepare(POINTS, datasource, points, day, writer)
        frame["source"] = source
        frame["run_id"] = run_id
        frame["seq"] = _seq_column(seq, len(frame))
        return self._write(POINTS, datasource, frame, layout.as_day(day), writer)

    def write_point_days(
        self,
        datasource: str,
        points: Mapping[date, pd.DataFrame],
        *,
        writer: str,
        source: str | None = None,
        run_id: str | None = None,
    ) -> dict[date, WriteResult]:
        """Replace ``writer``'s points of ``datasource`` on each day of ``points`` (day -> that day's points).

        The same files as :meth:`write_points` called once per day, each replaced atomically,
        but the points are validated, sorted and converted to Arrow once: a ranged run writes
        many days in one call. Nothing is written unless every day's points are valid. A day
        with no points loses the writer's file, as with :meth:`write_points`.

        >>> import tempfile, pandas as pd
        >>> day = lambda d: pd.DataFrame({"metric": ["rows.count"], "labels": [{}],
        ...     "ts": [pd.Timestamp(d, tz="UTC")], "value": [5.0]})
        >>> written = MetricStore(tempfile.mkdtemp()).write_point_days(
        ...     "demo", {date(2026, 1, 1): day("2026-01-01"), date(2026, 1, 2): day("2026-01-02")}, writer="w")
        >>> {d.isoformat(): result.rows for d, result in written.items()}
        {'2026-01-01': 1, '2026-01-02': 1}
        """
        validate_datasource(datasource)
        writer = layout.validate_writer(writer)
        days = [layout.as_day(day) for day in points]
        sizes = [len(frame) for frame in points.values()]
        frame = POINTS.normalize(pd.concat(list(points.values()), ignore_index=True), datasource)
        micros = pd.DatetimeIndex(frame["ts"]).as_unit("us").asi8
        frame["day"] = np.repeat(np.array(days, dtype=object), sizes)
        starts = np.cumsum([0, *sizes])
        for day, start, end in zip(days, starts[:-1], starts[1:], strict=True):
            _check_day_range(micros[start:end], day)
        frame["writer"] = writer
        frame["source"] = source
        frame["run_id"] = run_id
        frame["seq"] = _seq_column(time.time_ns(), len(frame))
        # Sorted by day, then as _write sorts one day's rows: each day is a slice of one Arrow table.
        frame["order"] = np.repeat(np.arange(len(days)), sizes)
        ordered = frame.sort_values(["order", "metric", "series_id", "ts"], kind="stable")
        arrow = pa.Table.from_pandas(
            ordered[POINTS.schema.names], schema=POINTS.schema, preserve_index=False, nthreads=1
        )
        return {
            day: self._write_table(
                POINTS, datasource, arrow.slice(start, end - start) if end > start else None, day, writer
            )
            for day, start, end in zip(days, starts[:-1], starts[1:], strict=True)
        }

    def write_anomalies(
        self,
        datasource: str,
        anomalies: pd.DataFrame,
        *,
        day: date | str,
        writer: str,
        run_id: str | None = None,
    ) -> WriteResult:
        """Replace ``writer``'s anomaly records of ``datasource`` on ``day``, atomically.

        Columns: ``metric, labels, ts, value, expected, lower, upper, score, is_anomaly,
        detector`` and optionally ``params`` (dict) and ``run_id``. Records for every
        evaluated point may be written; :meth:`read_anomalies` returns only the flagged
        ones unless asked for all.
        """
        frame = self._prepare(ANOMALIES, datasource, anomalies, day, writer)
        if "run_id" in anomalies.columns:
            given = anomalies["run_id"].reset_index(drop=True)
            frame["run_id"] = given.where(given.notna(), run_id).astype(object).to_numpy()
        else:
            frame["run_id"] = run_id
        return self._write(ANOMALIES, datasource, frame, layout.as_day(day), writer)

    def write_anomaly_days(
        self, datasource: str, anomalies: pd.DataFrame, *, writer: str, run_id: str | None = None
    ) -> dict[date, WriteResult]:
        """Replace ``writer``'s anomaly records of every day ``anomalies`` holds records of (UTC day of ``ts``).

        The same files as :meth:`write_anomalies` called once per day with that day's records,
        each replaced atomically, but the frame is validated, sorted and converted to Arrow once:
        a ranged detection writes a year of verdicts in one call. Nothing is written unless every
        record is valid.

        >>> import tempfile, pandas as pd
        >>> records = pd.DataFrame({"metric": ["rows.count"] * 2, "labels": [{}] * 2,
        ...     "ts": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True), "value": [5.0, 9.0],
        ...     "expected": [5.0, 5.0], "lower": [4.0, 4.0], "upper": [6.0, 6.0], "score": [0.0, 8.0],
        ...     "is_anomaly": [False, True], "detector": ["window"] * 2})
        >>> written = MetricStore(tempfile.mkdtemp()).write_anomaly_days("demo", records, writer="detect")
        >>> {day.isoformat(): result.rows for day, result in written.items()}
        {'2026-01-01': 1, '2026-01-02': 1}
        """
        writer = layout.validate_writer(writer)
        frame = ANOMALIES.normalize(anomalies, datasource)
        if "run_id" in anomalies.columns:
            given = anomalies["run_id"].reset_index(drop=True)
            frame["run_id"] = given.where(given.notna(), run_id).astype(object).to_numpy()
        else:
            frame["run_id"] = run_id
        frame["writer"] = writer
        frame["day"] = pd.DatetimeIndex(frame["ts"]).tz_convert("UTC").date
        # Sorted by day first, then as _write sorts one day's rows: each day is a slice of one Arrow table.
        ordered = frame.sort_values(["day", "metric", "series_id", "ts"], kind="stable")
        arrow = pa.Table.from_pandas(
            ordered[ANOMALIES.schema.names], schema=ANOMALIES.schema, preserve_index=False, nthreads=1
        )
        days, starts = np.unique(ordered["day"].to_numpy(), return_index=True)
        ends = [*starts[1:], len(ordered)]
        return {
            day: self._write_table(ANOMALIES, datasource, arrow.slice(start, end - start), day, writer)
            for day, start, end in zip(days, starts, ends, strict=True)
        }

    def delete_points(self, datasource: str, *, day: date | str, writer: str) -> None:
        """Remove ``writer``'s points file of ``datasource`` on ``day`` (no error if absent)."""
        self._delete(POINTS, datasource, day, writer)

    def delete_anomalies(self, datasource: str, *, day: date | str, writer: str) -> None:
        """Remove ``writer``'s anomalies file of ``datasource`` on ``day`` (no error if absent)."""
        self._delete(ANOMALIES, datasource, day, writer)

    def _prepare(self, table: _Table, datasource: str, frame: pd.DataFrame, day: Any, writer: str) -> pd.DataFrame:
        validate_datasource(datasource)
        validate_writer_name = layout.validate_writer(writer)
        partition = layout.as_day(day)
        normalized = table.normalize(frame, datasource)
        if len(normalized):
            _check_day_range(pd.DatetimeIndex(normalized["ts"]).as_unit("us").asi8, partition)
        normalized["writer"] = validate_writer_name
        return normalized

    def _write(self, table: _Table, datasource: str, frame: pd.DataFrame, day: date, writer: str) -> WriteResult:
        frame["day"] = day
        arrow = None
        if not frame.empty:
            ordered = frame.sort_values(["metric", "series_id", "ts"], kind="stable")
            # nthreads=1: for a frame of a few thousand rows pyarrow's thread pool (started per call)
            # costs more than it saves, and writers already run in parallel.
            arrow = pa.Table.from_pandas(
                ordered[table.schema.names], schema=table.schema, preserve_index=False, nthreads=1
            )
        return self._write_table(table, datasource, arrow, day, writer)

    def _write_normalized(self, datasource: str, points: NormalizedPoints, day: Any, writer: str,
                          source: str | None, run_id: str | None, seq: int | np.ndarray) -> WriteResult:  # fmt: skip
        validate_datasource(datasource)
        writer = layout.validate_writer(writer)
        partition = layout.as_day(day)
        _check_day_range(points.ts, partition)
        arrow = (_points_table(points, source=source, run_id=run_id, writer=writer, day=partition,
                               seq=_seq_column(seq, len(points))) if len(points) else None)  # fmt: skip
        return self._write_table(POINTS, datasource, arrow, partition, writer)

    def _write_table(
        self, table: _Table, datasource: str, arrow: pa.Table | None, day: date, writer: str
    ) -> WriteResult:
        relative = layout.file_path(table.name, datasource, day, writer)
        with self.location.lock(layout.datasource_dir(table.name, datasource), exclusive=False):
            if arrow is None:  # no rows: the writer's file goes
                self.location.remove(relative)
                return WriteResult(self.location.reader_path(relative), 0)
            self.location.write_atomic(relative, _parquet_bytes(arrow))
        return WriteResult(self.location.reader_path(relative), arrow.num_rows)

    def _delete(self, table: _Table, datasource: str, day: date | str, writer: str) -> None:
        validate_datasource(datasource)
        partition = layout.as_day(day)
        layout.validate_writer(writer)
        with self.location.lock(layout.datasource_dir(table.name, datasource), exclusive=False):
            self.location.remove(layout.file_path(table.name, datasource, partition, writer))

    # ---- reading -----------------------------------------------------------------------------

    def read_points(
        self,
        datasource: str,
        *,
        metrics: str | Sequence[str] | None = None,
        start: date | datetime | str | None = None,
        end: date | datetime | str | None = None,
        labels: Mapping[str, str] | None = None,
        series_ids: Sequence[str] | None = None,
        provenance: bool = False,
    ) -> pd.DataFrame:
        """Points of ``datasource`` as a frame with ``metric, labels, series_id, ts, value``.

        Filters: ``metrics`` (names), ``start <= ts <= end`` (a date-only ``end`` includes
        that whole day), ``labels`` (exact match on the given keys; other keys are free),
        ``series_ids``. Only the partitions of the range are opened. ``provenance=True``
        adds ``source, run_id, writer``. A datasource that does not exist gives an empty frame.
        """
        extra = ("source", "run_id", "writer") if provenance else ()
        return self._read(POINTS, datasource, metrics, start, end, labels, series_ids, (*POINTS.columns, *extra))

    def read_anomalies(
        self,
        datasource: str,
        *,
        metrics: str | Sequence[str] | None = None,
        start: date | datetime | str | None = None,
        end: date | datetime | str | None = None,
        labels: Mapping[str, str] | None = None,
        series_ids: Sequence[str] | None = None,
        only_anomalies: bool = True,
    ) -> pd.DataFrame:
        """Anomaly records of ``datasource``, filtered like :meth:`read_points`.

        By default only flagged points (``is_anomaly``); ``only_anomalies=False`` also returns
        every evaluated point with its expected value and band, for charts.
        """
        where = ["is_anomaly"] if only_anomalies else []
        return self._read(ANOMALIES, datasource, metrics, start, end, labels, series_ids, ANOMALIES.columns, where)

    def stored_months(self, table: str, datasource: str) -> list[date]:
        """The months (their first days) that hold rows of ``table`` (``points``/``anomalies``) of ``datasource``."""
        scan = self._scan(_TABLE_BY_NAME[table], datasource, _Filters())
        if scan is None:
            return []
        sql, params = scan
        rows = (
            self._cursor().execute(f"SELECT DISTINCT date_trunc('month', day) AS m {sql} ORDER BY m", params).fetchall()
        )
        return [row[0] if isinstance(row[0], date) else row[0].date() for row in rows]

    def stored_rows(self, table: str, datasource: str, *, first: date, last: date) -> pd.DataFrame:
        """Every stored column of ``table`` rows whose partition day is in ``[first, last]``, as stored.

        Unlike the reads, rows keep their ``writer`` and partition ``day`` (for maintenance such as
        re-indexing the search index, whose document ids need them); compaction shadowing applies.
        """
        found = _TABLE_BY_NAME[table]
        scan = self._scan(found, datasource, _Filters(where=[f"day BETWEEN DATE '{first}' AND DATE '{last}'"]))
        columns = [c for c in found.schema.names if c != "labels"]
        if scan is None:
            return _empty_frame([*columns, "labels"])
        sql, params = scan
        cursor = self._cursor()
        frame = _select_tolerating_old_files(cursor, columns, _escape_braces(sql), params)
        catalog = dict(
            cursor.execute(f"SELECT series_id, any_value(labels) {sql} GROUP BY series_id", params).fetchall()
        )
        frame["labels"] = [dict(catalog[sid]) for sid in frame["series_id"]]
        frame["ts"] = frame["ts"].dt.tz_convert("UTC")
        return frame

    def superseded_points(self, datasource: str) -> set[tuple[str, str, str, int]]:
        """``(writer, day, series_id, ts in µs)`` of every stored points row that a later write replaced
        (reads skip them: last write wins). Usually none or few; for maintenance such as re-indexing."""
        scan = self._scan(POINTS, datasource, _Filters())
        if scan is None:
            return set()
        sql, params = scan
        rest = f"{_escape_braces(sql)} QUALIFY NOT ({_CURRENT_ROWS})"
        columns = ["writer", "strftime(day, '%Y-%m-%d') AS day", "series_id", "epoch_us(ts) AS ts"]
        frame = _select_tolerating_old_files(self._cursor(), columns, rest, params)
        return set(zip(frame["writer"], frame["day"], frame["series_id"], frame["ts"].astype("int64"), strict=True))

    def list_datasources(self) -> list[str]:
        """Every datasource that has points or anomalies, sorted."""
        names: set[str] = set()
        for table in layout.TABLES:
            for entry in self.location.list_dir(table):
                name = layout.parse_datasource_dir(entry)
                if name and self._files(table, name, None, None).files:
                    names.add(name)
        return sorted(names)

    def list_series(self, datasource: str) -> pd.DataFrame:
        """One row per series of ``datasource``: ``series_id, metric, labels, points, first_ts, last_ts``."""
        columns = ("series_id", "metric", "labels", "points", "first_ts", "last_ts")
        scan = self._scan(POINTS, datasource, _Filters())
        if scan is None:
            return _empty_frame(columns)
        sql, params = scan
        select = (  # count(DISTINCT ts): a (series, ts) written twice is one point, as read_points returns it
            "SELECT series_id, metric, any_value(labels) AS labels, count(DISTINCT ts) AS points, "
            f"min(ts) AS first_ts, max(ts) AS last_ts {sql} GROUP BY series_id, metric ORDER BY metric, series_id"
        )
        return _fix_dtypes(self._cursor().execute(select, params).df(), columns)

    def days(self, datasource: str) -> list[date]:
        """The partition days that hold points of ``datasource``, sorted."""
        scan = self._scan(POINTS, datasource, _Filters())
        if scan is None:
            return []
        sql, params = scan
        rows = self._cursor().execute(f"SELECT DISTINCT day {sql} ORDER BY day", params).fetchall()
        return [row[0] for row in rows]

    def _read(
        self,
        table: _Table,
        datasource: str,
        metrics: str | Sequence[str] | None,
        start: Any,
        end: Any,
        labels: Mapping[str, str] | None,
        series_ids: Sequence[str] | None,
        columns: tuple[str, ...],
        where: Iterable[str] = (),
    ) -> pd.DataFrame:
        filters = _Filters.parse(metrics, start, end, labels, series_ids, where)
        scan = self._scan(table, datasource, filters)
        if scan is None:
            return _empty_frame(columns)
        sql, params = scan
        plain = [c for c in columns if c != "labels"]
        cursor = self._cursor()
        # Points: one row per series and ts, the last write (see _CURRENT_ROWS). The filters all keep
        # or drop a (series, ts) whole, so they can run before the choice.
        current = f" QUALIFY {_CURRENT_ROWS}" if table is POINTS else ""
        frame = _select_tolerating_old_files(
            cursor, plain, f"{_escape_braces(sql)}{current} ORDER BY metric, series_id, ts, writer", params
        )
        if frame.empty:
            return _empty_frame(columns)  # the same dtypes whether nothing matched or nothing exists
        if "labels" in columns:
            # Converting a MAP per row to a Python dict dominates query time; convert once per series.
            catalog = dict(
                cursor.execute(f"SELECT series_id, any_value(labels) {sql} GROUP BY series_id", params).fetchall()
            )
            frame["labels"] = [dict(catalog[sid]) for sid in frame["series_id"]]
        return _fix_dtypes(frame[list(columns)], columns)

    def _scan(self, table: _Table, datasource: str, filters: _Filters) -> tuple[str, list[Any]] | None:
        """``FROM ... WHERE ...`` over the files the filters can touch, or None if there are none."""
        validate_datasource(datasource)
        found = self._files(
            table.name,
            datasource,
            None if filters.start is None else (filters.start - DAY_MARGIN).date(),
            None if filters.end is None else (filters.end + DAY_MARGIN).date(),
        )
        if not found.files:
            return None
        clauses, params = filters.sql()
        if found.shadowed:
            clauses.append(_NOT_SHADOWED)
            params.append(found.shadowed)
        sql = f"FROM {_READ_FILES}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return sql, [found.files, *params]

    def _files(self, table: str, datasource: str, first: date | None, last: date | None) -> _FileSet:
        """The Parquet files of ``datasource`` whose partition overlaps [first, last]."""
        base = layout.datasource_dir(table, datasource)
        result = _FileSet()
        day_writers: dict[date, list[str]] = {}
        months: list[date] = []
        for entry, names in self._list_partitions(base).items():
            parquet = sorted(n for n in names if n.endswith(".parquet"))
            day = layout.parse_day_dir(entry)
            if day is not None and parquet and _overlaps(day, day, first, last):
                result.files.extend(self.location.reader_path(f"{base}/{entry}/{n}") for n in parquet)
                day_writers[day] = [layout.writer_of(n) for n in parquet]
                result.days.add(day)
            month = layout.parse_month_dir(entry)
            compacted = f"{layout.COMPACTED_WRITER}.parquet"
            if month is not None and compacted in names and _overlaps(month, layout.month_end(month), first, last):
                result.files.append(self.location.reader_path(f"{base}/{entry}/{compacted}"))
                months.append(month)
        for month in months:
            month_file = self.location.reader_path(layout.compacted_path(table, datasource, month))
            for day, writers in day_writers.items():
                if layout.month_of(day) == month:
                    result.shadowed.extend(f"{month_file}|{w}|{day.isoformat()}" for w in writers)
        return result

    def _list_partitions(self, base: str) -> dict[str, list[str]]:
        """``{"date=2026-01-01": [file names], "month=2025-12": [...]}`` under a datasource."""
        if self.location.is_s3:
            grouped: dict[str, list[str]] = {}
            for rel in self.location.find(base):
                entry, _, name = rel[len(base) + 1 :].partition("/")
                if name and "/" not in name:
                    grouped.setdefault(entry, []).append(name)
            return grouped
        return {entry: self.location.list_dir(f"{base}/{entry}") for entry in self.location.list_dir(base)}

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._connection_lock:
            if self._connection is None:
                con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
                con.execute("SET TimeZone = 'UTC'")
                # The file metadata cache keeps footers of files already read: repeated chart queries skip them.
                con.execute("SET parquet_metadata_cache = true")
                if self.location.is_s3:
                    # DuckDB cannot download its httpfs extension here; it reads S3 through fsspec instead.
                    con.register_filesystem(self.location.fs)
                self._connection = con
            return self._connection.cursor()

    # ---- maintenance -------------------------------------------------------------------------

    def compact(self, datasource: str) -> CompactionReport:
        """Merge each month of ``datasource``'s day files into one file, without changing query results.

        A writer's day file wins over its rows of that day in an older compacted file, so
        compaction is safe to repeat and to run while writers of other datasources work.
        Writers of this datasource wait while it runs (a lock on local disk; on S3 schedule
        it when they are idle). Temporary files of killed writers are removed once stale.
        """
        validate_datasource(datasource)
        report = CompactionReport()
        for table in (POINTS, ANOMALIES):
            base = layout.datasource_dir(table.name, datasource)
            with self.location.lock(base, exclusive=True):
                partitions = self._list_partitions(base)
                months: dict[date, list[str]] = {}
                for entry, names in partitions.items():
                    self._remove_stale_tmp(f"{base}/{entry}", names, report)
                    day = layout.parse_day_dir(entry)
                    if day is not None and any(n.endswith(".parquet") for n in names):
                        months.setdefault(layout.month_of(day), []).append(entry)
                for month, entries in sorted(months.items()):
                    self._compact_month(table, datasource, month, entries, partitions, report)
        return report

    def _compact_month(
        self,
        table: _Table,
        datasource: str,
        month: date,
        day_entries: list[str],
        partitions: dict[str, list[str]],
        report: CompactionReport,
    ) -> None:
        found = self._files(table.name, datasource, month, layout.month_end(month))
        params: list[Any] = [found.files]
        sql = f"SELECT * EXCLUDE (filename) FROM {_READ_FILES_OF_ANY_RELEASE}"
        if found.shadowed:
            sql += " WHERE " + _NOT_SHADOWED
            params.append(found.shadowed)
        sql += " ORDER BY metric, series_id, ts, writer"
        merged = self._cursor().sql(sql, params=params).to_arrow_table()
        merged = _with_schema(merged, table.schema)
        base = layout.datasource_dir(table.name, datasource)
        self.location.write_atomic(layout.compacted_path(table.name, datasource, month), _parquet_bytes(merged))
        # Until these removals finish, the day files shadow their own rows in the new month file.
        removed = 0
        for entry in day_entries:
            for name in partitions[entry]:
                if name.endswith(".parquet"):
                    self.location.remove(f"{base}/{entry}/{name}")
                    removed += 1
            self.location.remove_empty_dir(f"{base}/{entry}")
        report.months_compacted += 1
        report.files_before += len(found.files)
        report.files_after += 1
        report.details.append(
            f"{table.name} {datasource} {month.strftime('%Y-%m')}: {len(found.files)} files -> 1 ({merged.num_rows} rows)"
        )

    def _remove_stale_tmp(self, day_rel: str, names: list[str], report: CompactionReport) -> None:
        if self.location.is_s3:
            return  # S3 writes never leave temporary objects.
        now = time.time()
        for name in names:
            if name.endswith(TMP_SUFFIX):
                path = self.location.path(f"{day_rel}/{name}")
                try:
                    if now - os.path.getmtime(path) > STALE_TMP_SECONDS:
                        os.unlink(path)
                        report.stale_tmp_removed += 1
                except FileNotFoundError:
                    pass


# Columns added to the point schema after the first release, and their SQL types: files written
# before lack them.
_LATER_COLUMNS = {"n": "DOUBLE", "stderr": "DOUBLE", "seq": "BIGINT"}
_READ_FILES = "read_parquet(?, filename = true)"
# union_by_name fills a column that some files lack with nulls, but binds every file's schema before
# reading: on a year of day files that doubled the query time, so reads use it only when needed.
_READ_FILES_OF_ANY_RELEASE = "read_parquet(?, filename = true, union_by_name = true)"
# DuckDB names the missing column quoted in most messages, unquoted in others (a window's ORDER BY).
_UNKNOWN_COLUMN = re.compile(r'[Cc]olumn "?(\w+)"? not found')
# The current row of each (series, ts): the last write (files without seq are oldest), then a fixed
# tie-break (writer, partition day) so that every reader, and the search index, picks the same row.
_LATEST_FIRST = "{seq} DESC NULLS LAST, writer DESC, day DESC"
_CURRENT_ROWS = f"row_number() OVER (PARTITION BY series_id, ts ORDER BY {_LATEST_FIRST}) = 1"


def _later_columns_named(message: str) -> set[str]:
    return {c for c in _LATER_COLUMNS if f'"{c}"' in message} | (
        set(_UNKNOWN_COLUMN.findall(message)) & set(_LATER_COLUMNS)
    )


def _select_tolerating_old_files(
    cursor: duckdb.DuckDBPyConnection, columns: Sequence[str], rest: str, params: list[Any]
) -> pd.DataFrame:
    """``SELECT columns rest`` as a frame, also over files written before a later column existed.

    ``rest`` may name a later column as ``{seq}`` (in a QUALIFY clause, say; other braces doubled).
    Plain reads take DuckDB's first file's schema: a later file that lacks a column, or a first file
    that lacks a selected one, fails. Then the query is repeated reading the files by name (nulls
    where a file lacks a column), and a later column that no file has at all reads as null.
    """
    missing: set[str] = set()
    union = False
    while True:
        select = [f"NULL::{_LATER_COLUMNS[c]} AS {c}" if c in missing else c for c in columns]
        later = {c: f"NULL::{kind}" if c in missing else c for c, kind in _LATER_COLUMNS.items()}
        sql = f"SELECT {', '.join(select)} {rest.format(**later)}"
        try:
            return cursor.execute(sql.replace(_READ_FILES, _READ_FILES_OF_ANY_RELEASE) if union else sql, params).df()
        except (duckdb.BinderException, duckdb.InvalidInputException) as err:
            named = _later_columns_named(str(err))
            if not named:
                raise
            if not union:
                union = True
                continue
            if named <= missing:
                raise
            missing |= named


def _escape_braces(sql: str) -> str:
    return sql.replace("{", "{{").replace("}", "}}")


def _with_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` in ``schema``'s column order and types; later columns that it lacks become nulls."""
    for name in schema.names:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, schema.field(name).type))
    return table.select(schema.names).cast(schema)


def _overlaps(lo: date, hi: date, first: date | None, last: date | None) -> bool:
    return (first is None or hi >= first) and (last is None or lo <= last)


def _time_range(start: Any, end: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    def parse(value: Any, field_name: str, *, end_of_day: bool) -> pd.Timestamp | None:
        if value is None:
            return None
        date_only = (isinstance(value, date) and not isinstance(value, datetime)) or (
            isinstance(value, str) and len(value) == 10
        )
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError):
            raise LupusValidationError(
                field_name, "must be a date, a datetime or an ISO timestamp", value=value
            ) from None
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        if date_only and end_of_day:
            ts = ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
        return ts

    start_ts = parse(start, "start", end_of_day=False)
    end_ts = parse(end, "end", end_of_day=True)
    if start_ts is not None and end_ts is not None and end_ts < start_ts:
        raise LupusValidationError("end", f"must not be before start ({start_ts})", value=end)
    return start_ts, end_ts


def _check_day_range(micros: np.ndarray, partition: date) -> None:
    """Every ts (int64 microseconds, UTC) within one day of the partition day."""
    lo = (datetime.combine(partition, dtime(), tzinfo=UTC) - DAY_MARGIN - _EPOCH) // _MICROSECOND
    hi = lo + (2 * DAY_MARGIN + timedelta(days=1)) // _MICROSECOND
    outside = (micros < lo) | (micros >= hi)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise LupusValidationError(
            "ts",
            f"must lie within one day of the partition day {partition.isoformat()} (UTC)",
            row=row,
            value=str(pd.Timestamp(int(micros[row]), unit="us", tz="UTC")),
        )


def _points_table(points: NormalizedPoints, *, source: str | None, run_id: str | None, writer: str, day: date,
                  seq: np.ndarray) -> pa.Table:  # fmt: skip
    """The points file's rows, sorted as every writer sorts them (metric, series_id, ts), built column by
    column from each series once: no frame, no labels dict per row."""
    series = points.series
    rank = np.empty(len(series), dtype=np.int64)  # each series' place in (metric, series_id) order
    rank[sorted(range(len(series)), key=lambda i: (series[i].metric, series[i].series_id))] = np.arange(len(series))
    order = np.lexsort((points.ts, rank[points.codes]))
    codes = pa.array(points.codes[order])
    rows = len(order)
    columns = {
        "metric": pa.array([s.metric for s in points.series], pa.string()).take(codes),
        "labels": pa.array([s.labels for s in points.series], LABELS_TYPE).take(codes),
        "series_id": pa.array([s.series_id for s in points.series], pa.string()).take(codes),
        "ts": pa.array(points.ts[order], TS_TYPE),
        "value": pa.array(points.values[order], pa.float64(), from_pandas=True),
        "n": _optional_floats(points.n, order),
        "stderr": _optional_floats(points.stderr, order),
        "source": pa.array([source] * rows, pa.string()),
        "run_id": pa.array([run_id] * rows, pa.string()),
        "writer": pa.array([writer] * rows, pa.string()),
        "day": pa.array([day] * rows, pa.date32()),
        "seq": pa.array(seq[order], pa.int64()),
    }
    return pa.table(columns, schema=POINT_SCHEMA)


def _seq_column(seq: int | np.ndarray, rows: int) -> np.ndarray:
    """The write order of each row: one number for all rows, or one per row."""
    if np.ndim(seq) == 0:
        return np.full(rows, int(seq), dtype=np.int64)
    column = np.asarray(seq, dtype=np.int64)
    if len(column) != rows:
        raise LupusValidationError("seq", f"must be one number or one per row ({rows})", value=len(column))
    return column


def _optional_floats(values: np.ndarray | None, order: np.ndarray) -> pa.Array:
    if values is None:
        return pa.nulls(len(order), pa.float64())
    return pa.array(values[order], pa.float64(), from_pandas=True)  # NaN -> null


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def _empty_frame(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_EMPTY_DTYPES[c]) for c in columns})


def _fix_dtypes(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    for column in columns:
        if column in ("ts", "first_ts", "last_ts"):
            frame[column] = frame[column].dt.tz_convert("UTC").dt.as_unit("us")
        elif column == "labels":
            frame[column] = [dict(m) if m is not None else {} for m in frame[column]]
    return frame
