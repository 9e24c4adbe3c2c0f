"""A product's source for one or more partition days: lazy DuckDB relations, or Spark DataFrames.

Parquet and CSV files (local paths or ``s3://``) are read lazily by DuckDB: the day's rows are
never loaded into pandas; the metrics code queries the relation where it is. S3 goes through
an fsspec filesystem (``s3fs``) registered on the connection, with the endpoint and
credentials of the environment or of the Dagster ``s3`` resource; DuckDB never downloads an
extension. ``{date}`` patterns are expanded, then globbed on the storage they name (local
disk or the S3 bucket). Hive partition keys in the paths (``date=2026-01-02/``) become columns.

A SQL query is streamed in chunks into a temporary table of the same connection (DuckDB
spills it past its memory limit); a Python callable's DataFrame is registered on it; a Spark
table stays in Spark, and the other sources of a Spark product are read by Spark too.

Errors say what was looked for and where: :class:`SourceMissingError` (no file, no bucket),
:class:`SourceAccessError` (refused credentials; secrets are never printed).
"""

from __future__ import annotations

import glob
import importlib
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from lupus_dagster.product_spec import SourceSpec
from lupus_metrics.stats.parquet_files import ParquetFiles
from lupus_store.config import lupus_home

#: Rows per chunk when a SQL source is streamed into DuckDB.
SQL_CHUNK_ROWS = 200_000
_REFUSED = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "InvalidToken", "403")


class SourceMissingError(Exception):
    """The day's source data does not exist (yet): the partition fails instead of storing an empty day."""


class SourceAccessError(Exception):
    """The storage refused access (bad or missing credentials); the message never holds a secret."""


def data_root() -> Path:
    """``LUPUS_DATA_ROOT`` or ``$LUPUS_HOME/data``: where relative source paths point."""
    return Path(os.environ.get("LUPUS_DATA_ROOT") or lupus_home() / "data").expanduser().resolve()


def resolve_pattern(pattern: str, day: date) -> str:
    """``{date}`` replaced by the day; relative paths anchored at :func:`data_root`; ``s3://`` kept.

    >>> resolve_pattern("/data/t/date={date}/*.parquet", date(2026, 1, 2))
    '/data/t/date=2026-01-02/*.parquet'
    >>> resolve_pattern("s3://lake/t/date={date}/*.parquet", date(2026, 1, 2))
    's3://lake/t/date=2026-01-02/*.parquet'
    """
    text = pattern.replace("{date}", day.isoformat())
    return text if text.startswith("s3://") or os.path.isabs(text) else str(data_root() / text)


def s3_storage_options(resource: Any = None) -> dict[str, Any]:
    """s3fs options: the environment (as the metric store reads it), overridden by a Dagster ``S3Resource``'s fields.

    >>> s3_storage_options(type("R", (), {"endpoint_url": "http://s3.local", "region_name": None})())["endpoint_url"]
    'http://s3.local'
    """
    from lupus_store.location import _s3_options_from_env

    options = _s3_options_from_env()
    if resource is None:
        return options
    field = lambda name: getattr(resource, name, None)  # noqa: E731
    if field("endpoint_url"):
        options["endpoint_url"] = field("endpoint_url")
    if field("aws_access_key_id"):
        options["key"], options["secret"] = field("aws_access_key_id"), field("aws_secret_access_key") or ""
    if field("aws_session_token"):
        options["token"] = field("aws_session_token")
    if field("profile_name"):
        options["profile"] = field("profile_name")
    if field("use_unsigned_session"):
        options["anon"] = True
    if field("use_ssl") is False:
        options["use_ssl"] = False
    client = dict(options.get("client_kwargs", {}))
    if field("region_name"):
        client["region_name"] = field("region_name")
    if field("verify") is not None:
        client["verify"] = field("verify")
    if client:
        options["client_kwargs"] = client
    return options


class DaySources:
    """The sources of one partition computation, on one DuckDB connection (or Spark session).

    Use as a context manager; every relation it hands out lives on its connection, so the
    metrics code can combine them (the day and the previous day, recommendations and relevance).
    ``memory_limit`` and ``threads`` bound DuckDB (default: ``LUPUS_DUCKDB_MEMORY_LIMIT``,
    ``LUPUS_DUCKDB_THREADS``, else DuckDB's own defaults); past the limit DuckDB spills to a
    private temporary directory.

    A ranged run computes many days: :meth:`cursor` gives each day its own sources on the same
    database (a DuckDB cursor, with its own relations, registrations and temporary tables),
    because opening and closing a DuckDB database costs tens of milliseconds per day.
    """

    def __init__(
        self,
        *,
        storage_options: dict[str, Any] | None = None,
        spark: Any = None,
        memory_limit: str | None = None,
        threads: int | None = None,
    ):
        self.storage_options = storage_options if storage_options is not None else s3_storage_options()
        self.spark = spark
        self._memory_limit = memory_limit or os.environ.get("LUPUS_DUCKDB_MEMORY_LIMIT")
        self._threads = threads or (
            int(os.environ["LUPUS_DUCKDB_THREADS"]) if os.environ.get("LUPUS_DUCKDB_THREADS") else None
        )
        self._connection: Any = None
        self._s3: Any = None
        self._spill: str | None = None
        self._keep: list[Any] = []  # frames and relations whose registrations the connection needs
        self._scans: dict[int, tuple[Any, ParquetFiles]] = {}  # id(relation) -> (relation, the files it scans)
        self._database: DaySources | None = None  # set on a cursor(): the sources owning the database
        self._lock = threading.RLock()  # cursors of several threads may open the database first

    def __enter__(self) -> DaySources:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._spill:
            shutil.rmtree(self._spill, ignore_errors=True)
            self._spill = None

    def cursor(self) -> DaySources:
        """Sources for one more partition on this database: closing them closes only their cursor.

        >>> with DaySources() as run, run.cursor() as day:
        ...     day.connection.execute("SELECT current_setting('TimeZone')").fetchall()
        [('UTC',)]
        """
        day = DaySources(storage_options=self.storage_options, spark=self.spark)
        day._database = self
        return day

    @property
    def connection(self) -> Any:
        """The DuckDB connection (created on first use): UTC, no extension downloads, S3 through fsspec."""
        if self._connection is None and self._database is not None:
            with self._database._lock:
                cursor = self._database._open_database().cursor()
            cursor.execute("SET TimeZone = 'UTC'")  # a session setting: each cursor needs it
            self._connection = cursor
        with self._lock:
            return self._open_database()

    def _open_database(self) -> Any:
        if self._connection is None:
            import duckdb

            self._spill = tempfile.mkdtemp(prefix="lupus-duckdb-")
            config: dict[str, Any] = {
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "temp_directory": self._spill,
            }
            if self._memory_limit:
                config["memory_limit"] = self._memory_limit
            if self._threads:
                config["threads"] = self._threads
            con = duckdb.connect(config=config)
            con.execute("SET TimeZone = 'UTC'")
            # A day's metrics query the same files about ten times (profile, evaluation, drift): the footers are
            # parsed once, not once per query and file (0.05 CPU-s and 0.15 s per query over 50 local files; a
            # round trip per file on S3). DuckDB checks a cached footer against the file's modification time.
            con.execute("SET parquet_metadata_cache = true")
            self._connection = con
        return self._connection

    def engine_of(self, source: SourceSpec) -> str:
        """``spark`` for a Spark table, ``duckdb`` otherwise (what the day's metrics run on)."""
        return "spark" if source.kind == "spark_table" else "duckdb"

    def read(
        self, source: SourceSpec, days: date | Sequence[date], *, engine: str = "duckdb", memory_bytes: int = 0
    ) -> Any:
        """The rows of ``days`` as one relation (``engine="duckdb"``) or Spark DataFrame.

        With ``memory_bytes``, local files of at most that many bytes in all are read once into
        an Arrow table (by DuckDB, with the same columns and types) instead: each of the ~15
        queries of a day's metrics would otherwise read and bind the files again, which costs
        more than the metrics on a small day. Larger days stay lazy relations.

        Raises :class:`SourceMissingError` when no day has data, naming what was looked for.
        """
        wanted = [days] if isinstance(days, date) else list(days)
        if source.parquet or source.csv:
            files = [f for day in wanted for f in self._files(source, day, missing_ok=len(wanted) > 1)]
            if not files:
                raise SourceMissingError(
                    f"no file for {', '.join(d.isoformat() for d in wanted)}: {self._where(source)}"
                )
            data = self._read_files(source, files, engine)
            if engine == "duckdb" and memory_bytes and _local_bytes(files) <= memory_bytes:
                return data.arrow().read_all()
            if engine == "duckdb" and source.parquet:
                partitions = _hive_columns(files) if source.hive_partitioning else ()
                filesystem = self._s3_fs() if files[0].startswith("s3://") else None
                self._scans[id(data)] = (data, ParquetFiles(tuple(files), filesystem, partitions))
            return data
        frames = []
        for day in wanted:
            try:
                frames.append(self._read_one(source, day, engine))
            except SourceMissingError:
                if len(wanted) == 1:
                    raise
        if not frames:
            raise SourceMissingError(
                f"no data for {', '.join(d.isoformat() for d in wanted)} from {source.kind} source"
            )
        return frames[0] if len(frames) == 1 else self._union(frames, engine)

    def files_of(self, data: Any) -> ParquetFiles | None:
        """The Parquet files ``data`` scans as they are, if it is a relation :meth:`read` returned for them.

        The profile counts list columns from those files' dictionary codes
        (:mod:`lupus_metrics.stats.parquet_list_counts`); any other relation gives None.
        """
        entry = self._scans.get(id(data))
        return entry[1] if entry is not None and entry[0] is data else None

    def optional(self, source: SourceSpec, days: date | Sequence[date], *, engine: str = "duckdb") -> Any | None:
        """As :meth:`read`, but None when there is no data (a missing previous day is no error)."""
        try:
            return self.read(source, days, engine=engine)
        except SourceMissingError:
            return None

    # ---- files -----------------------------------------------------------------------------------

    def _files(self, source: SourceSpec, day: date, *, missing_ok: bool = False) -> list[str]:
        pattern = resolve_pattern(source.parquet or source.csv or "", day)
        if pattern.startswith("s3://"):
            files = ["s3://" + f for f in self._s3_glob(pattern)]
        else:
            files = sorted(glob.glob(pattern))
        if not files and not missing_ok:
            raise SourceMissingError(
                f"no file matches {pattern} for partition {day.isoformat()}: {self._where(source)}"
            )
        return files

    def _where(self, source: SourceSpec) -> str:
        """The pattern and the storage it is looked for in, for error messages."""
        pattern = source.parquet or source.csv or ""
        if pattern.replace("{date}", "x").startswith("s3://"):
            bucket = pattern[len("s3://") :].split("/", 1)[0]
            endpoint = self.storage_options.get("endpoint_url") or "AWS S3"
            return f"pattern {pattern!r} in S3 bucket {bucket!r} at {endpoint}"
        where = "absolute path" if os.path.isabs(pattern) else f"under the data root {data_root()} (LUPUS_DATA_ROOT)"
        return f"pattern {pattern!r} on local disk, {where}"

    def _s3_glob(self, pattern: str) -> list[str]:
        bucket = pattern[len("s3://") :].split("/", 1)[0]
        endpoint = self.storage_options.get("endpoint_url") or "AWS S3"
        try:
            return sorted(self._s3_fs().glob(pattern[len("s3://") :]))
        except FileNotFoundError as err:
            raise SourceMissingError(
                f"S3 bucket {bucket!r} or its prefix does not exist at {endpoint} ({pattern})"
            ) from err
        except Exception as err:  # s3fs/botocore raise PermissionError, OSError or ClientError
            text = f"{type(err).__name__}: {err}"
            if isinstance(err, PermissionError) or any(code in text for code in _REFUSED):
                code = next((c for c in _REFUSED if c in text), "access denied")
                raise SourceAccessError(
                    f"S3 at {endpoint} refused access to bucket {bucket!r} ({code}) while listing {pattern}: check the "
                    "credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or the Dagster 's3' resource) and the "
                    "bucket's permissions"
                ) from None
            raise

    def _s3_fs(self) -> Any:
        if self._database is not None:
            return self._database._s3_fs()  # registered on the database: its cursors see it
        with self._lock:
            if self._s3 is None:
                import s3fs

                self._s3 = s3fs.S3FileSystem(**self.storage_options)
                # DuckDB reads s3:// through this filesystem: no httpfs extension to download.
                self.connection.register_filesystem(self._s3)
        return self._s3

    def _read_files(self, source: SourceSpec, files: list[str], engine: str) -> Any:
        if engine == "spark":
            reader = (
                self.spark.read.option("basePath", _base_path(files)) if source.hive_partitioning else self.spark.read
            )
            if source.parquet:
                return reader.parquet(*files)
            return reader.option("header", True).option("inferSchema", True).csv(files)
        options = {"hive_partitioning": source.hive_partitioning, "union_by_name": True}
        if source.parquet:
            return self.connection.read_parquet(files, **options)
        return self.connection.read_csv(files, header=True, **options)

    # ---- SQL, Python, Spark ------------------------------------------------------------------------

    def _read_one(self, source: SourceSpec, day: date, engine: str) -> Any:
        if source.spark_table:
            if self.spark is None:
                raise SourceMissingError("spark_table sources need the Spark resource (pyspark)")
            from pyspark.sql import functions

            table = self.spark.table(source.spark_table)
            return table.where(functions.col(source.spark_date_column) == functions.lit(day.isoformat()).cast("date"))
        if source.python:
            module_name, _, function = (source.python or "").partition(":")
            frame = getattr(importlib.import_module(module_name), function)(day)
            if frame is None:
                raise SourceMissingError(f"{source.python} returned nothing for partition {day.isoformat()}")
            return self._from_frame(frame, engine)
        return self._read_sql(source, day, engine)

    def _from_frame(self, frame: Any, engine: str) -> Any:
        if engine == "spark":
            return self.spark.createDataFrame(frame if isinstance(frame, pd.DataFrame) else frame.to_pandas())
        self._keep.append(frame)
        return self.connection.from_df(frame) if isinstance(frame, pd.DataFrame) else self.connection.from_arrow(frame)

    def _read_sql(self, source: SourceSpec, day: date, engine: str) -> Any:
        from sqlalchemy import create_engine, text

        url = os.environ.get(source.sql_url_env or "")
        if not url:
            raise SourceMissingError(f"environment variable {source.sql_url_env} (the source database URL) is not set")
        database = create_engine(url)
        table = f"lupus_sql_{uuid.uuid4().hex[:12]}"
        try:
            with database.connect() as connection:
                chunks = pd.read_sql(text(source.sql), connection, params={"date": day.isoformat()},
                                     chunksize=SQL_CHUNK_ROWS, dtype_backend="pyarrow")  # fmt: skip
                if engine == "spark":
                    return self.spark.createDataFrame(pd.concat(list(chunks), ignore_index=True))
                # Streamed into a temporary table: DuckDB holds (and spills) the rows, not pandas.
                for i, chunk in enumerate(chunks):
                    self.connection.register("lupus_chunk", chunk)
                    if i == 0:
                        self.connection.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM lupus_chunk")
                    else:
                        self.connection.execute(f"INSERT INTO {table} BY NAME SELECT * FROM lupus_chunk")
                    self.connection.unregister("lupus_chunk")
        finally:
            database.dispose()
        return self.connection.table(table)

    def _union(self, parts: list[Any], engine: str) -> Any:
        if engine == "spark":
            union = parts[0]
            for part in parts[1:]:
                union = union.unionByName(part, allowMissingColumns=True)
            return union
        self._keep.extend(parts)
        return self.connection.sql(" UNION ALL BY NAME ".join(f"SELECT * FROM ({p.sql_query()})" for p in parts))


def _hive_columns(files: list[str]) -> tuple[str, ...]:
    """The ``name=value`` directory names of the files' paths: columns DuckDB adds from the path."""
    return tuple(sorted({part.split("=", 1)[0] for f in files for part in f.split("/")[:-1] if "=" in part}))


def _local_bytes(files: list[str]) -> float:
    """Bytes of local ``files`` in all; infinite for files on S3 (not asked: a request each)."""
    if any(f.startswith("s3://") for f in files):
        return float("inf")
    return sum(os.path.getsize(f) for f in files)


def _base_path(files: list[str]) -> str:
    """The directory above the first Hive ``key=value`` segment, so Spark reads the keys as columns."""
    parts = files[0].split("/")
    first = next((i for i, part in enumerate(parts) if "=" in part), len(parts) - 1)
    return "/".join(parts[:first]) or "/"
