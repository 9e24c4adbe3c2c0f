"""The label-cardinality limit: at most ``max_series`` series per datasource.

Series known to a datasource are those in the store when the process first sees it plus
every series pushed through the API (recorded in ``ingest_series``, so the count survives
restarts and is shared by API processes). A batch that would pass the limit is rejected
whole, naming the metric of the first new series beyond it.
"""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from lupus_api.problems import ProblemError
from lupus_metrics.frames import NormalizedPoints, SeriesIdentity
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

    def admit(self, datasource: str, points: NormalizedPoints) -> int:
        """Record the new series of ``points``; 422 beyond the limit.

        Returns how many series were new.
        """
        with self._lock:
            known = self._known.get(datasource)
            if known is not None and all(s.series_id in known for s in points.series):
                return 0  # the common case
            known = self._load(datasource, first_time=known is None)
            new = [s for s in points.series if s.series_id not in known]  # in the order of their first rows
            if not new:
                return 0
            room = self.max_series - len(known)
            if len(new) > room:
                metric = new[max(room, 0)].metric
                raise ProblemError(
                    422,
                    f"datasource {datasource!r} is at its limit of {self.max_series} series: new series of metric "
                    f"{metric!r} rejected ({len(new)} new, room for {max(room, 0)}); check for unbounded label values",
                    field="labels", title="Too many series",
                )
            self._record(datasource, new)
            known.update(s.series_id for s in new)
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

    def _record(self, datasource: str, new: list[SeriesIdentity]) -> None:
        rows = [{"datasource": datasource, "series_id": s.series_id, "metric": s.metric} for s in new]
        dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(self.db.engine.dialect.name)
        with self.db.session() as session:
            if dialect is not None:
                # Another API process may register the same series at the same moment.
                session.execute(dialect.insert(IngestSeries).values(rows).on_conflict_do_nothing())
            else:
                session.add_all(IngestSeries(**row) for row in rows)
