"""The label-cardinality limit: at most ``max_series`` series per datasource.

Series known to a datasource are those in the store when the process first sees it plus
every series of an accepted push (recorded in ``ingest_series``, so the count survives
restarts and is shared by API processes). A batch that would pass the limit is rejected
whole, naming the metric of the first new series beyond it. The new series of a batch are
recorded in the transaction that records the batch itself: a batch refused later (409 for a
reused idempotency key, a failed staging) uses up nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lupus_api.problems import ProblemError
from lupus_metrics.frames import NormalizedPoints
from lupus_store import MetricStore
from lupus_store.metadata import MetadataDB
from lupus_store.metadata.models import IngestSeries


class SeriesRegistry:
    """Known series per datasource, cached in memory, recorded in the metadata DB."""

    def __init__(self, db: MetadataDB, store: MetricStore, max_series: int):
        self.db = db
        self.store = store
        self.max_series = max_series
        self._known: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def admission(self, datasource: str, points: NormalizedPoints) -> Iterator[list[dict[str, str]]]:
        """Check ``points``' new series against the limit (422 beyond it) and yield them as
        ``ingest_series`` rows, for the caller to insert with the batch it accepts.

        They count as known once the block ends without an error. While a batch with new series is
        being admitted, other batches with new series of this process wait, so that two of them
        cannot both take the last room.
        """
        known = self._known.get(datasource)
        if known is not None and all(s.series_id in known for s in points.series):
            yield []  # the common case: no lock, nothing to record
            return
        with self._lock:
            known = self._load(datasource, first_time=datasource not in self._known)
            new = [s for s in points.series if s.series_id not in known]  # in the order of their first rows
            room = self.max_series - len(known)
            if len(new) > room:
                metric = new[max(room, 0)].metric
                raise ProblemError(
                    422,
                    f"datasource {datasource!r} is at its limit of {self.max_series} series: new series of metric "
                    f"{metric!r} rejected ({len(new)} new, room for {max(room, 0)}); check for unbounded label values",
                    field="labels",
                    title="Too many series",
                )
            yield [{"datasource": datasource, "series_id": s.series_id, "metric": s.metric} for s in new]
            known.update(s.series_id for s in new)

    def admit(self, datasource: str, points: NormalizedPoints) -> int:
        """Record the new series of ``points`` at once (no batch to record them with); 422 beyond the limit.

        Returns how many series were new.
        """
        with self.admission(datasource, points) as new:
            if new:
                with self.db.session() as session:
                    insert_series(session, new)
        return len(new)

    def _load(self, datasource: str, *, first_time: bool) -> set[str]:
        with self.db.session() as session:
            known = set(session.scalars(select(IngestSeries.series_id).where(IngestSeries.datasource == datasource)))
        if first_time:
            known |= set(self.store.list_series(datasource)["series_id"])
        else:
            known |= self._known.get(datasource, set())
        self._known[datasource] = known
        return known


def insert_series(session: Session, rows: list[dict[str, str]]) -> None:
    """Insert ``ingest_series`` rows, leaving those another API process inserted meanwhile."""
    if not rows:
        return
    dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(session.get_bind().dialect.name)
    if dialect is not None:
        session.execute(dialect.insert(IngestSeries).values(rows).on_conflict_do_nothing())
    else:
        session.add_all(IngestSeries(**row) for row in rows)
