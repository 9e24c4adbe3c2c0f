"""Numeric materialization metadata as Lupus metric points.

One materialization gives one point per numeric metadata entry (``int`` or ``float``, e.g.
``dagster/row_count``; booleans, NaN and infinities are not measurements and are skipped):

- ``metric``: the metadata key with ``/`` as ``.`` (``dagster/row_count`` -> ``dagster.row_count``);
- ``labels``: ``asset`` (the asset key, ``a/b``) and, for a partition that is not a point in time
  (a static or dynamic partition, or the non-time part of a multi-partition), ``partition``;
- ``ts``: the partition's time for a time partition (a daily ``2026-01-02`` or hourly
  ``2026-01-02-05:00`` key, read as UTC), else the materialization's time. A time partition is the
  series' time axis, not a label: one series per partition would hold one point and could not be
  judged.

Example:
    >>> record = Materialization(("wh", "orders"), "2026-01-02", 1767400000.0, {"dagster/row_count": 1200, "ok": True})
    >>> frame = materialization_points([record], ["*"])
    >>> frame[["metric", "labels", "value"]].to_dict("records")
    [{'metric': 'dagster.row_count', 'labels': {'asset': 'wh/orders'}, 'value': 1200.0}]
    >>> str(frame["ts"].iloc[0])
    '2026-01-02 00:00:00+00:00'
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

POINT_COLUMNS = ["metric", "labels", "ts", "value"]


@dataclass(frozen=True)
class Materialization:
    """What a point needs of one materialization event."""

    asset_key: tuple[str, ...]
    partition: str | None
    timestamp: float
    metadata: Mapping[str, Any]


def materialization_points(records: Iterable[Materialization], keys: Sequence[str]) -> pd.DataFrame:
    """The points of ``records`` for metadata keys matching one of the globs ``keys``."""
    rows = []
    for record in records:
        ts, partition = _time_and_partition(record)
        labels = {"asset": "/".join(record.asset_key)} | ({"partition": partition} if partition else {})
        for name, value in record.metadata.items():
            if not any(fnmatch.fnmatchcase(name, glob) for glob in keys):
                continue
            number = _number(value)
            if number is not None:
                rows.append((name.replace("/", "."), labels, ts, number))
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def _number(value: Any) -> float | None:
    value = getattr(value, "value", value)  # a MetadataValue, or the raw value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _time_and_partition(record: Materialization) -> tuple[pd.Timestamp, str | None]:
    if not record.partition:
        return pd.Timestamp(datetime.fromtimestamp(record.timestamp, UTC)), None
    times, others = [], []
    for part in record.partition.split("|"):  # a multi-partition key joins its dimensions with '|'
        moment = _partition_time(part)
        (times if moment is not None else others).append(moment if moment is not None else part)
    ts = times[0] if times else pd.Timestamp(datetime.fromtimestamp(record.timestamp, UTC))
    return ts, "|".join(others) or None


def _partition_time(key: str) -> pd.Timestamp | None:
    for pattern in ("%Y-%m-%d", "%Y-%m-%d-%H:%M", "%Y-%m"):
        try:
            return pd.Timestamp(datetime.strptime(key, pattern), tz="UTC")
        except ValueError:
            continue
    return None
