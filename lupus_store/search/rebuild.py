"""Re-index datasources from Parquet, the source of truth (``lupus index rebuild``).

A rebuild indexes every stored row under a new generation, one month at a time, and only then
deletes the datasource's rows of older generations: readers never see the datasource empty,
and a rebuild interrupted half-way leaves the old rows in place.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lupus_store.metric_store import (
    _LATEST_FIRST,
    ANOMALIES,
    POINTS,
    MetricStore,
    _execute_tolerating_old_files,
    _Filters,
)
from lupus_store.search.bulk import BulkFailure, BulkReport
from lupus_store.search.documents import documents
from lupus_store.search.retry_queue import RetryQueue
from lupus_store.search.search_index import SearchIndex

_TABLES = {"points": POINTS, "anomalies": ANOMALIES}


@dataclass
class RebuildReport:
    """Per datasource and table, how many rows were indexed; rejected documents; seconds taken."""

    indexed: dict[str, int] = field(default_factory=dict)
    failures: list[BulkFailure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.indexed.values())


def rebuild(
    store: MetricStore, index: SearchIndex, *, datasource: str | None = None, queue: RetryQueue | None = None
) -> RebuildReport:
    """Re-index ``datasource`` (or every datasource of the store) from Parquet.

    Queued writes of a rebuilt datasource are dropped from ``queue``: the rebuild indexed the
    state they would have restored.
    """
    started = time.perf_counter()
    report = RebuildReport()
    index.ensure_templates()
    for name in [datasource] if datasource is not None else store.list_datasources():
        entries = queue.entries(name) if queue is not None else []
        clean = True
        for table in _TABLES:
            generation = f"rebuild-{uuid.uuid4().hex}"
            result = _index_table(store, index, table, name, generation)
            report.indexed[f"{name}/{table}"] = result.indexed
            report.failures.extend(result.failures)
            if result.ok:
                index.delete_other_generations(table, name, keep_generation=generation)
            clean = clean and result.ok
        if clean and queue is not None:
            for entry in entries:
                queue.remove(entry.key)
    report.seconds = time.perf_counter() - started
    return report


def _index_table(store: MetricStore, index: SearchIndex, table: str, datasource: str, generation: str) -> BulkReport:
    total = BulkReport()
    # MetricStore has no public row scan with the writer and partition day that document ids need;
    # its private scan (which also applies compaction shadowing) is used here on purpose.
    scan = store._scan(_TABLES[table], datasource, _Filters())
    if scan is None:
        return total
    sql, params = scan
    cursor = store._cursor()
    months = [row[0] for row in cursor.execute(f"SELECT DISTINCT date_trunc('month', day) AS m {sql} ORDER BY m", params).fetchall()]
    catalog = dict(cursor.execute(f"SELECT series_id, any_value(labels) {sql} GROUP BY series_id", params).fetchall())
    labels = {sid: dict(m) for sid, m in catalog.items()}
    columns = [c for c in _TABLES[table].schema.names if c != "labels"]
    # Points rows another write replaced (last write wins, as the store reads): few, so listed once
    # for the whole datasource (a replaced row and its successor may sit in different months).
    superseded: set[tuple[str, str, str, Any]] = set()
    if table == "points":
        ranked = (f"{sql.replace('{', '{{').replace('}', '}}')} QUALIFY row_number() OVER "
                  f"(PARTITION BY series_id, ts ORDER BY {_LATEST_FIRST}) > 1")  # fmt: skip
        found = _execute_tolerating_old_files(cursor, ["writer", "strftime(day, '%Y-%m-%d')", "series_id", "epoch_us(ts)"],
                                              ranked, params).fetchall()  # fmt: skip
        superseded = {tuple(row) for row in found}
    for month in months:
        first = pd.Timestamp(month).date()
        last = (pd.Timestamp(month) + pd.offsets.MonthEnd(0)).date()
        where = f"day BETWEEN DATE '{first.isoformat()}' AND DATE '{last.isoformat()}'"
        month_sql = f"{sql} AND {where}" if " WHERE " in sql else f"{sql} WHERE {where}"
        frame = _execute_tolerating_old_files(cursor, columns, month_sql.replace("{", "{{").replace("}", "}}"),
                                              params).df()  # fmt: skip
        if frame.empty:
            continue
        frame["labels"] = [labels[sid] for sid in frame["series_id"]]
        frame["ts"] = frame["ts"].dt.tz_convert("UTC")
        if table == "points":
            frame["seq"] = frame["seq"].astype("Int64").astype(object).where(frame["seq"].notna(), None)
            keys = zip(frame["writer"], pd.to_datetime(frame["day"]).dt.strftime("%Y-%m-%d"), frame["series_id"],
                       frame["ts"].dt.as_unit("us").astype("int64"), strict=True)  # fmt: skip
            frame["superseded"] = [key in superseded for key in keys]
        docs = []
        for (writer, day), rows in frame.groupby(["writer", "day"], sort=False):
            day_text = pd.Timestamp(day).date().isoformat()
            docs.extend(documents(table, datasource, rows, day=day_text, writer=writer, generation=generation))
        sent = index.sender.send(docs, index.index_of(table, datasource))
        total.indexed += sent.indexed
        total.retries += sent.retries
        total.failures.extend(sent.failures)
    return total
