"""A MetricStore that also writes every point and anomaly to the search index, and reads from it.

Parquet is written first and is the source of truth: if the index write fails (cluster down,
documents rejected), the write still succeeds, the documents go to a durable
:class:`~lupus_store.search.retry_queue.RetryQueue`, and the index catches up at the next write
or at :meth:`IndexedMetricStore.catch_up` (``lupus index catch-up``); ``lupus index rebuild``
re-indexes from Parquet whatever happened.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from lupus_metrics.frames import NormalizedPoints, normalize_anomalies, normalize_points
from lupus_store import layout
from lupus_store.metric_store import CompactionReport, MetricStore, WriteResult
from lupus_store.search.backends import IndexUnavailableError, SearchRequestError
from lupus_store.search.bulk import BulkFailure, BulkReport
from lupus_store.search.documents import documents
from lupus_store.search.retry_queue import QueueKey, RetryQueue
from lupus_store.search.search_index import SearchIndex


@dataclass(frozen=True)
class IndexedWriteResult(WriteResult):
    """A store write plus what happened in the index: ``indexed`` (all documents landed),
    ``failures`` (rejected documents) and ``queued`` (kept in the retry queue for later)."""

    indexed: bool = False
    failures: tuple[BulkFailure, ...] = ()
    queued: bool = False
    error: str | None = None


@dataclass
class CatchUpReport:
    """What :meth:`IndexedMetricStore.catch_up` did."""

    landed: int = 0
    still_pending: int = 0
    failures: list[BulkFailure] = field(default_factory=list)
    error: str | None = None


class IndexedMetricStore:
    """Writes to ``store`` then to ``index``; reads points, anomalies and series from ``index``.

    Everything else (``days``, ``compact``, ``list_datasources``) is the store's.
    """

    def __init__(self, store: MetricStore, index: SearchIndex, queue: RetryQueue):
        self.store = store
        self.index = index
        self.queue = queue

    def __repr__(self) -> str:
        return f"IndexedMetricStore({self.store!r}, {self.index!r})"

    @property
    def root(self) -> str:
        return self.store.root

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
    ) -> IndexedWriteResult:
        """:meth:`MetricStore.write_points`, then the same rows (with the same write order) to the index."""
        seq = time.time_ns() if seq is None else seq
        written = self.store.write_points(datasource, points, day=day, writer=writer, source=source, run_id=run_id,
                                          seq=seq)  # fmt: skip
        frame = points.to_frame() if isinstance(points, NormalizedPoints) else normalize_points(points, datasource)
        frame["source"] = source
        frame["run_id"] = run_id
        frame["seq"] = np.broadcast_to(np.asarray(seq, dtype=np.int64), len(frame))
        return self._index("points", datasource, frame, day, writer, written)

    def write_anomalies(
        self,
        datasource: str,
        anomalies: pd.DataFrame,
        *,
        day: date | str,
        writer: str,
        run_id: str | None = None,
    ) -> IndexedWriteResult:
        """:meth:`MetricStore.write_anomalies`, then the same records to the index."""
        written = self.store.write_anomalies(datasource, anomalies, day=day, writer=writer, run_id=run_id)
        frame = normalize_anomalies(anomalies, datasource)
        if "run_id" in anomalies.columns:
            given = anomalies["run_id"].reset_index(drop=True)
            frame["run_id"] = given.where(given.notna(), run_id).astype(object).to_numpy()
        else:
            frame["run_id"] = run_id
        return self._index("anomalies", datasource, frame, day, writer, written)

    def write_anomaly_days(
        self, datasource: str, anomalies: pd.DataFrame, *, writer: str, run_id: str | None = None
    ) -> dict[date, IndexedWriteResult]:
        """:meth:`MetricStore.write_anomaly_days` with the index: each day as :meth:`write_anomalies` writes it."""
        days = pd.to_datetime(anomalies["ts"], utc=True).dt.date
        return {
            day: self.write_anomalies(datasource, frame, day=day, writer=writer, run_id=run_id)
            for day, frame in anomalies.groupby(days)
        }

    def delete_points(self, datasource: str, *, day: date | str, writer: str) -> IndexedWriteResult:
        """Remove ``writer``'s points of ``day`` from the store and the index."""
        self.store.delete_points(datasource, day=day, writer=writer)
        return self._index("points", datasource, None, day, writer, WriteResult("", 0))

    def delete_anomalies(self, datasource: str, *, day: date | str, writer: str) -> IndexedWriteResult:
        """Remove ``writer``'s anomaly records of ``day`` from the store and the index."""
        self.store.delete_anomalies(datasource, day=day, writer=writer)
        return self._index("anomalies", datasource, None, day, writer, WriteResult("", 0))

    def _index(
        self, table: str, datasource: str, frame: pd.DataFrame | None, day: Any, writer: str, written: WriteResult
    ) -> IndexedWriteResult:
        day_text = layout.as_day(day).isoformat()
        key = QueueKey(table, datasource, day_text, writer)
        generation = uuid.uuid4().hex
        docs = (
            []
            if frame is None
            else documents(table, datasource, frame, day=day_text, writer=writer, generation=generation)
        )
        if len(self.queue):
            self.catch_up()  # older writes first, if the index is back
        try:
            report = self.index.replace(table, datasource, docs, day=day_text, writer=writer, generation=generation)
        except (IndexUnavailableError, SearchRequestError) as err:
            self.queue.put(key, generation, docs, reason=str(err)[:500])
            return IndexedWriteResult(written.path, written.rows, queued=True, error=str(err))
        if report.ok:
            self.queue.remove(key)
            return IndexedWriteResult(written.path, written.rows, indexed=True)
        self.queue.put(key, generation, docs, reason=_summary(report))
        return IndexedWriteResult(written.path, written.rows, failures=tuple(report.failures), queued=True)

    def catch_up(self, datasource: str | None = None) -> CatchUpReport:
        """Retry the queued index writes (all, or one datasource's); stops at the first unreachable cluster."""
        result = CatchUpReport()
        for entry in self.queue.entries(datasource):
            docs = self.queue.load(entry)
            key = entry.key
            try:
                report = self.index.replace(
                    key.table, key.datasource, docs, day=key.day, writer=key.writer, generation=entry.generation
                )
            except (IndexUnavailableError, SearchRequestError) as err:
                result.error = str(err)
                break
            if report.ok:
                self.queue.remove(key)
                result.landed += 1
            else:
                result.failures.extend(report.failures)
        result.still_pending = len(self.queue.entries(datasource))
        return result

    # ---- reading (from the index) ------------------------------------------------------------

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
        """:meth:`MetricStore.read_points`, served from the index."""
        return self.index.read_points(
            datasource,
            metrics=metrics,
            start=start,
            end=end,
            labels=labels,
            series_ids=series_ids,
            provenance=provenance,
        )

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
        """:meth:`MetricStore.read_anomalies`, served from the index."""
        return self.index.read_anomalies(
            datasource, metrics=metrics, start=start, end=end, labels=labels, series_ids=series_ids,
            only_anomalies=only_anomalies,
        )  # fmt: skip

    def list_series(self, datasource: str) -> pd.DataFrame:
        """:meth:`MetricStore.list_series`, served from the index."""
        return self.index.list_series(datasource)

    # ---- the store's own -----------------------------------------------------------------------

    def list_datasources(self) -> list[str]:
        return self.store.list_datasources()

    def days(self, datasource: str) -> list[date]:
        return self.store.days(datasource)

    def compact(self, datasource: str) -> CompactionReport:
        """Compaction rewrites files, not rows: the index needs nothing."""
        return self.store.compact(datasource)


def _summary(report: BulkReport) -> str:
    first = report.failures[0]
    return f"{len(report.failures)} document(s) rejected, first {first.doc_id} ({first.status}): {first.reason}"[:500]
