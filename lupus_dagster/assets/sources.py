"""Loading one partition day of a product's source: files, SQL, a Python callable or a Spark table."""

from __future__ import annotations

import glob
import importlib
import os
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from lupus_dagster.product_spec import SourceSpec
from lupus_store.config import lupus_home


class SourceMissingError(Exception):
    """The day's source data does not exist (yet): the partition fails instead of storing an empty day."""


def data_root() -> Path:
    """``LUPUS_DATA_ROOT`` or ``$LUPUS_HOME/data``: where relative source paths point."""
    return Path(os.environ.get("LUPUS_DATA_ROOT") or lupus_home() / "data").expanduser().resolve()


def resolve_pattern(pattern: str, day: date) -> str:
    """``{date}`` replaced by the day; relative paths anchored at :func:`data_root`.

    >>> resolve_pattern("/data/t/date={date}/*.parquet", date(2026, 1, 2))
    '/data/t/date=2026-01-02/*.parquet'
    """
    text = pattern.replace("{date}", day.isoformat())
    return text if os.path.isabs(text) else str(data_root() / text)


def load_source(source: SourceSpec, day: date, *, spark: Any = None) -> Any:
    """The day's rows as a pandas DataFrame (a Spark DataFrame for ``spark_table``).

    Raises :class:`SourceMissingError` naming what was looked for when there is nothing for the day.
    """
    if source.parquet or source.csv:
        pattern = resolve_pattern(source.parquet or source.csv or "", day)
        files = sorted(glob.glob(pattern))
        if not files:
            raise SourceMissingError(f"no file matches {pattern} for partition {day.isoformat()}")
        read = pd.read_parquet if source.parquet else pd.read_csv
        return pd.concat([read(f) for f in files], ignore_index=True)
    if source.sql:
        from sqlalchemy import create_engine, text

        url = os.environ.get(source.sql_url_env or "")
        if not url:
            raise SourceMissingError(f"environment variable {source.sql_url_env} (the source database URL) is not set")
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                return pd.read_sql(text(source.sql), connection, params={"date": day.isoformat()})
        finally:
            engine.dispose()
    if source.python:
        module_name, _, function = (source.python or "").partition(":")
        frame = getattr(importlib.import_module(module_name), function)(day)
        if frame is None:
            raise SourceMissingError(f"{source.python} returned nothing for partition {day.isoformat()}")
        return frame
    if spark is None:
        raise SourceMissingError("spark_table sources need the Spark resource (pyspark)")
    from pyspark.sql import functions

    table = spark.table(source.spark_table)
    return table.where(functions.col(source.spark_date_column) == functions.lit(day.isoformat()).cast("date"))
