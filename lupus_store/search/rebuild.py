"""Re-index datasources from Parquet, the source of truth (``lupus index rebuild``).

A rebuild indexes every stored row under a new generation, one month at a time, and only then
deletes the datasource's rows of older generations: readers never see the datasource empty,
and a rebuild interrupted half-way leaves the old rows in place.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import pandas as pd

from lupus_store.metric_store import MetricStore
from lupus_store.search.bulk import BulkFailure, BulkReport
from lupus_store.search.documents import documents
from lupus_store.search.retry_queue import RetryQueue
from lupus_store.search.search_index import SearchIndex

_TABLES = ("points", "anomalies")


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
    # Points rows another write replaced (last write wins, as the store reads) are indexed marked
    # superseded. Few, so listed once for the whole datasource (a replaced row and its successor may
    # sit in different months).
    superseded = store.superseded_points(datasource) if table == "points" else set()
    for month in store.stored_months(table, datasource):
        last = (pd.Timestamp(month) + pd.offsets.MonthEnd(0)).date()
        frame = store.stored_rows(table, datasource, first=month, last=last)
        if frame.empty:
            continue
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
