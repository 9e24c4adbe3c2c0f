"""The Hive layout of the store.

- ``<table>/datasource=<ds>/date=<YYYY-MM-DD>/<writer>.parquet``: one writer (a Dagster
  asset partition, a pushed batch, an MLflow import) owns one file per datasource-day.
- ``<table>/datasource=<ds>/month=<YYYY-MM>/_compacted.parquet``: compaction merges a
  month of day files into one, because a year of charts would otherwise open 365 small
  files. Every row keeps its ``writer`` and partition ``day``, so a writer that rewrites
  a day after compaction supersedes exactly its own rows of that day. The leading
  underscore is why writer names may not start with one.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.names import DATASOURCE_PATTERN

TABLES = ("points", "anomalies")
COMPACTED_WRITER = "_compacted"
# Whole-string patterns (fullmatch): `$` would also match before a final newline.
WRITER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_DATE_DIR = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
_MONTH_DIR = re.compile(r"month=(\d{4})-(\d{2})")
_DATASOURCE_DIR = re.compile(r"datasource=(.+)")


def validate_writer(writer: object) -> str:
    """Writer names become file names: 1-128 characters of letters, digits, ``_ . -``, not starting with ``_``.

    >>> validate_writer("metrics-2026-01-01")
    'metrics-2026-01-01'
    """
    if not isinstance(writer, str) or not WRITER_PATTERN.fullmatch(writer) or writer.endswith(".tmp"):
        raise LupusValidationError(
            "writer",
            "must be 1-128 characters of letters, digits, '_', '.', '-', starting with a letter or digit",
            value=writer,
        )
    return writer


def as_day(day: object) -> date:
    """A partition day from a ``date``, a ``datetime`` or an ISO ``YYYY-MM-DD`` string.

    >>> as_day("2026-01-31")
    datetime.date(2026, 1, 31)
    """
    if isinstance(day, datetime):
        return day.date()
    if isinstance(day, date):
        return day
    if isinstance(day, str):
        try:
            return date.fromisoformat(day)
        except ValueError:
            pass
    raise LupusValidationError("day", "must be a date or an ISO date string YYYY-MM-DD", value=day)


def datasource_dir(table: str, datasource: str) -> str:
    return f"{table}/datasource={datasource}"


def day_dir(table: str, datasource: str, day: date) -> str:
    return f"{datasource_dir(table, datasource)}/date={day.isoformat()}"


def month_dir(table: str, datasource: str, month: date) -> str:
    return f"{datasource_dir(table, datasource)}/month={month.strftime('%Y-%m')}"


def compacted_path(table: str, datasource: str, month: date) -> str:
    return f"{month_dir(table, datasource, month)}/{COMPACTED_WRITER}.parquet"


def file_path(table: str, datasource: str, day: date, writer: str) -> str:
    return f"{day_dir(table, datasource, day)}/{writer}.parquet"


def parse_day_dir(name: str) -> date | None:
    match = _DATE_DIR.fullmatch(name)
    return date.fromisoformat(match.group(1)) if match else None


def parse_month_dir(name: str) -> date | None:
    """``month=2026-01`` -> the first day of that month."""
    match = _MONTH_DIR.fullmatch(name)
    return date(int(match.group(1)), int(match.group(2)), 1) if match else None


def month_of(day: date) -> date:
    return day.replace(day=1)


def month_end(month: date) -> date:
    following = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return date.fromordinal(following.toordinal() - 1)


def parse_datasource_dir(name: str) -> str | None:
    match = _DATASOURCE_DIR.fullmatch(name)
    # Only directories a valid name could have made: never a stray `datasource=dsa\n`.
    return match.group(1) if match and DATASOURCE_PATTERN.fullmatch(match.group(1)) else None


def writer_of(file_name: str) -> str:
    """``metrics.parquet`` -> ``metrics``."""
    return file_name[: -len(".parquet")]
