"""Evidence from the metric store that an incident's members are back in their bands.

A day after the incident's last alert day counts as **clean** for a member when

- an anomaly member's series was evaluated that day and is not anomalous;
- any other member (a failed check, a vanished segment) has the product's points of that day:
  the day was computed and its checks ran, and a new failure would have joined the incident;
- a freshness member has points of its own (late) day or of any later day.

An incident's clean days are the days clean for every member; :func:`.records.resolve_due`
resolves it once they reach the product's ``resolve_after_days``.

Example:
    >>> import tempfile, pandas as pd
    >>> from datetime import date
    >>> from lupus_store import MetricStore
    >>> from lupus_store.incidents.grouping import AlertKey
    >>> from lupus_store.incidents.records import Member, OpenIncident
    >>> store = MetricStore(tempfile.mkdtemp())
    >>> for day, flagged in [("2026-01-10", True), ("2026-01-11", False), ("2026-01-12", False)]:
    ...     _ = store.write_anomalies("ds", pd.DataFrame({"metric": ["m"], "labels": [{}], "ts": [day], "value": [1.0],
    ...         "expected": [1.0], "lower": [0.0], "upper": [2.0], "score": [9.0], "is_anomaly": [flagged],
    ...         "detector": ["window"]}), day=day, writer="a")
    >>> sid = store.read_anomalies("ds", only_anomalies=False)["series_id"].iloc[0]
    >>> incident = OpenIncident(1, date(2026, 1, 10), [Member(sid, date(2026, 1, 10), "anomaly", AlertKey("anomaly", "m"))])
    >>> Evidence.load(store, "ds", start=date(2026, 1, 11)).clean_days(incident)
    2
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from lupus_store.incidents.records import OpenIncident
from lupus_store.metric_store import MetricStore


@dataclass(frozen=True)
class Evidence:
    """Evaluated days per series (and whether anomalous) and the days that have points, from ``start`` on."""

    evaluated: dict[str, dict[date, bool]]
    point_days: frozenset[date]

    @classmethod
    def load(cls, store: MetricStore, datasource: str, *, start: date, end: date | None = None) -> Evidence:
        """Read the verdicts of ``datasource`` from ``start`` to ``end`` (inclusive) once."""
        frame = store.read_anomalies(datasource, start=start, end=end, only_anomalies=False)
        evaluated: dict[str, dict[date, bool]] = {}
        if not frame.empty:
            days = pd.to_datetime(frame["ts"], utc=True).dt.date
            flagged = frame.assign(day=days).groupby(["series_id", "day"])["is_anomaly"].any()
            for (series, day), anomalous in flagged.items():
                evaluated.setdefault(series, {})[day] = bool(anomalous)
        point_days = frozenset(d for d in store.days(datasource) if d >= start and (end is None or d <= end))
        return cls(evaluated, point_days)

    def clean_days(self, incident: OpenIncident, *, as_of: date | None = None) -> int:
        """Days after ``incident.last_day`` (up to ``as_of``) on which every member was back in band."""
        common: set[date] | None = None
        for member in incident.members:
            days = self._clean(member.series_id, member.kind, incident.last_day, member.day)
            common = days if common is None else common & days
        if not common:
            return 0
        return sum(1 for day in common if as_of is None or day <= as_of)

    def _clean(self, series_id: str, kind: str, last_day: date, own_day: date) -> set[date]:
        if kind == "anomaly":
            return {
                day for day, anomalous in self.evaluated.get(series_id, {}).items() if day > last_day and not anomalous
            }
        if kind == "freshness":
            # The late partition arriving is the recovery: its own day counts.
            return {day for day in self.point_days if day >= own_day}
        return {day for day in self.point_days if day > last_day}
