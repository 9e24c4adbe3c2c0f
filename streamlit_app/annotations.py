"""What happened on a chart's days besides its points: failed checks, late partitions, vanished segments,
incidents and model releases, as annotations the chart page draws and lists (pure, plus two reads).

Sources: the incident store (every alert the sensor recorded, grouped into incidents), the
``churn.version_changed`` points the churn metrics write when the model version column changes from one day
to the next (``lupus_dagster.assets.product_points``), and release markers pushed through the API
(:mod:`lupus_store.incidents.markers`).

An annotation belongs on a chart when it concerns the chart's metric (a failed check that names the metric, an
incident with an alert of the metric) or the whole datasource (freshness, no data, releases).

Example:
    >>> check_detail_for("rows.count", "rule min_rows: rows.count = 1000 is below the minimum 1500; "
    ...                  "rule checks['price.null_rate']: price.null_rate = 0.59 is above the maximum 0.05")
    'rule min_rows: rows.count = 1000 is below the minimum 1500'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from lupus_store.incidents import IncidentStore, IncidentView
from lupus_store.incidents.markers import list_markers
from lupus_store.metadata import MetadataDB

KINDS = ("check", "freshness", "no_data", "incident", "release", "marker")
LABELS = {"check": "check failed", "freshness": "late", "no_data": "no data", "release": "release"}
RELEASE_METRIC = "churn.version_changed"
AROUND_BEFORE, AROUND_AFTER = 14, 7  # the "around this incident" range: two weeks before to a week after


@dataclass(frozen=True)
class Annotation:
    """One event on a chart: its day, kind (see :data:`KINDS`), a short label and the full text."""

    day: date
    kind: str
    label: str
    text: str
    incident: int | None = None


def datasource_incidents(db: MetadataDB, datasource: str, *, since: date | None) -> list[IncidentView]:
    """Incidents of ``datasource`` whose last alert is on or after ``since`` (and every active one)."""
    return IncidentStore(db, upgrade=False).incidents(datasources=[datasource], since=since, limit=500)


def incident_of(db: MetadataDB, datasource: str, incident_id: int) -> list[IncidentView]:
    """The incident ``incident_id`` when it is one of ``datasource``'s (a link never reveals another's)."""
    found = IncidentStore(db, upgrade=False).incident(incident_id)
    return [found] if found is not None and found.datasource == datasource else []


def concerns(incident: IncidentView, metric: str) -> bool:
    """Whether the incident has an alert of ``metric`` (an anomaly of it, or a failed check that names it)."""
    return any(m.metric == metric or metric in m.alert.concerns for m in incident.members if m.kind != "no_data")


def check_detail_for(metric: str, detail: str | None) -> str:
    """The parts of a failed check's detail that name ``metric`` (all of it when none does)."""
    if not detail:
        return ""
    parts = [part.strip() for part in detail.split("; ")]
    mine = [part for part in parts if f": {metric} " in part or part.startswith(f"{metric} ")]
    return "; ".join(mine or parts)


def annotations(
    incidents: Iterable[IncidentView], metric: str, start: date, end: date, releases: Sequence[Annotation] = ()
) -> list[Annotation]:
    """The annotations of a chart of ``metric`` over ``start..end`` (inclusive), by day."""
    out: list[Annotation] = [r for r in releases if start <= r.day <= end]
    for incident in incidents:
        if incident.start_day > end or incident.last_day < start:
            continue
        marked = False
        for m in incident.members:
            if not start <= m.day <= end:
                continue
            if m.kind == "check" and (m.metric == metric or metric in m.alert.concerns):
                failed = check_detail_for(metric, m.alert.detail)
                text = f"check {m.alert.check or m.metric} failed" + (f": {failed}" if failed else "")
                out.append(Annotation(m.day, "check", LABELS["check"], text, incident.id))
                marked = True
            elif m.kind in ("freshness", "no_data"):
                out.append(Annotation(m.day, m.kind, LABELS[m.kind], m.alert.summary(), incident.id))
                marked = True
        if not marked and concerns(incident, metric) and start <= incident.start_day <= end:
            out.append(Annotation(incident.start_day, "incident", f"incident #{incident.id}", incident.headline,
                                  incident.id))  # fmt: skip
    return sorted(out, key=lambda a: (a.day, KINDS.index(a.kind)))


def releases_from_points(points: pd.DataFrame) -> list[Annotation]:
    """Release annotations from ``churn.version_changed`` points (1 on a day the model version changed)."""
    if points.empty:
        return []
    changed = points[(points["metric"] == RELEASE_METRIC) & (points["value"] >= 1)]
    days = sorted({ts.date() for ts in changed["ts"]})
    return [Annotation(day, "release", LABELS["release"], "model version changed (seen by churn)") for day in days]


def pushed_markers(db: MetadataDB, datasource: str, start: date, end: date) -> list[Annotation]:
    """Markers pushed through the API on ``start..end``: releases as ``release``, other kinds as ``marker``."""
    return [
        Annotation(m.ts.date(), "release" if m.kind == "release" else "marker", m.label,
                   f"{m.kind} {m.label} (by {m.author}, {m.ts:%H:%M} UTC)" + (f": {m.note}" if m.note else ""))
        for m in list_markers(db, datasource, start=start, end=end)
    ]  # fmt: skip


def frame(items: Sequence[Annotation]) -> pd.DataFrame:
    """Annotations as the chart's ``annotation`` layer: ``ts`` (UTC midnight), ``kind``, ``label``, ``text``."""
    return pd.DataFrame(
        {
            "ts": pd.to_datetime([a.day for a in items], utc=True),
            "kind": [a.kind for a in items],
            "label": [a.label for a in items],
            "text": [f"{a.day.isoformat()} · {a.text}" for a in items],
        }
    )


def focus_incident(incidents: Sequence[IncidentView], metric: str, wanted: int | None) -> IncidentView | None:
    """The incident the "around this incident" range is about: the linked one when it is of this datasource,
    else the newest one that concerns ``metric``."""
    if wanted is not None:
        linked = next((i for i in incidents if i.id == wanted), None)
        if linked is not None:
            return linked
    mine = [i for i in incidents if concerns(i, metric)]
    return max(mine, key=lambda i: (i.start_day, i.id)) if mine else None


def around(incident: IncidentView, last_day: date) -> tuple[date, date]:
    """Two weeks before the incident to a week after its last day (not past the data's last day).

    >>> from datetime import datetime, UTC
    >>> view = IncidentView(1, "p", "ds", None, date(2026, 3, 1), date(2026, 3, 3), "open", "warning", 1.0, "h",
    ...                     [], None, None, None, None, None, None, 0, datetime.now(UTC))
    >>> around(view, date(2026, 3, 31)), around(view, date(2026, 3, 5))
    ((datetime.date(2026, 2, 15), datetime.date(2026, 3, 10)), (datetime.date(2026, 2, 15), datetime.date(2026, 3, 5)))
    """
    end = min(incident.last_day + timedelta(days=AROUND_AFTER), max(last_day, incident.last_day))
    return incident.start_day - timedelta(days=AROUND_BEFORE), end
