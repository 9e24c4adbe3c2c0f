"""Incidents as read by people: the board of the app, the API, ``lupus incidents`` (read-only).

:class:`IncidentView` carries everything a PM needs to answer "what is wrong, since when, how
bad": the headline, status, severity, the lead alert and its change from expected, the top
root-cause slices, the verdict, and every member alert with its chart link.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lupus_store.incidents.alert import Alert
from lupus_store.incidents.headline import lead_alert
from lupus_store.metadata import MetadataDB
from lupus_store.metadata.models import AlertState, Incident

OPEN_STATUSES = ("open", "acknowledged")


@dataclass(frozen=True)
class MemberView:
    """One alert of an incident."""

    id: int
    series_id: str
    day: date
    kind: str
    metric: str | None
    labels: dict[str, str]
    rule: str | None
    severity: float
    status: str  # pending | sent | silenced | acknowledged
    alert: Alert
    silence_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "series_id": self.series_id, "day": self.day.isoformat(), "kind": self.kind,
            "metric": self.metric, "labels": dict(self.labels), "rule": self.rule, "severity": self.severity,
            "status": self.status, "silence_id": self.silence_id, "alert": self.alert.to_json(),
        }  # fmt: skip


@dataclass(frozen=True)
class IncidentView:
    """One incident with its members, newest member last. Times are UTC-aware."""

    id: int
    product: str
    datasource: str
    team: str | None
    start_day: date
    last_day: date
    status: str
    severity: str
    score: float
    headline: str
    root_cause: list[dict[str, Any]]
    verdict: str | None
    note: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    clean_days: int
    created_at: datetime
    members: list[MemberView] = field(default_factory=list)
    delivery: str = "pending"  # the opening message: pending | sent | silenced

    @property
    def lead(self) -> MemberView | None:
        """The member the headline is named after."""
        if not self.members:
            return None
        alert = lead_alert(
            [m.alert for m in self.members if m.day == self.start_day] or [m.alert for m in self.members]
        )
        return next(m for m in self.members if m.alert is alert)

    @property
    def change(self) -> float | None:
        """The lead alert's relative change from expected (``-0.71`` is 71 % below)."""
        lead = self.lead
        return lead.alert.relative_change if lead else None

    @property
    def top_slices(self) -> list[dict[str, Any]]:
        """The root-cause slices of the strongest explained aggregate, best first."""
        return list(self.root_cause[0]["slices"]) if self.root_cause else []

    @property
    def link(self) -> str | None:
        lead = self.lead
        return lead.alert.link if lead else None

    def to_json(self, *, members: bool = True) -> dict[str, Any]:
        data = {
            "id": self.id, "product": self.product, "datasource": self.datasource, "team": self.team,
            "start_day": self.start_day.isoformat(), "last_day": self.last_day.isoformat(), "status": self.status,
            "severity": self.severity, "score": self.score, "headline": self.headline,
            "change": self.change, "link": self.link, "top_slices": self.top_slices, "root_cause": self.root_cause,
            "verdict": self.verdict, "note": self.note, "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": _iso(self.acknowledged_at), "resolved_by": self.resolved_by,
            "resolved_at": _iso(self.resolved_at), "clean_days": self.clean_days,
            "created_at": _iso(self.created_at), "delivery": self.delivery, "member_count": len(self.members),
        }  # fmt: skip
        if members:
            data["members"] = [member.to_json() for member in self.members]
        return data


def list_incidents(
    db: MetadataDB,
    *,
    datasources: Iterable[str] | None = None,
    product: str | None = None,
    status: str | Iterable[str] | None = None,
    since: date | None = None,
    limit: int = 200,
) -> list[IncidentView]:
    """Incidents, open and acknowledged first, then by start day (newest first).

    ``status``: one status, several, or ``"active"`` for open and acknowledged. ``since``:
    incidents whose last alert day is on or after it (still-open ones are always included).
    """
    query = select(Incident).options(selectinload(Incident.alerts), selectinload(Incident.notifications))
    if datasources is not None:
        query = query.where(Incident.datasource.in_(list(datasources)))
    if product is not None:
        query = query.where(Incident.product == product)
    if status is not None:
        wanted = OPEN_STATUSES if status == "active" else ((status,) if isinstance(status, str) else tuple(status))
        query = query.where(Incident.status.in_(wanted))
    if since is not None:
        query = query.where((Incident.last_day >= since) | Incident.status.in_(OPEN_STATUSES))
    query = query.order_by(Incident.status == "resolved", Incident.start_day.desc(), Incident.id.desc()).limit(limit)
    with db.session() as session:
        return [view(row) for row in session.scalars(query)]


def get_incident(db: MetadataDB, incident_id: int) -> IncidentView | None:
    with db.session() as session:
        row = session.get(Incident, incident_id, options=[selectinload(Incident.alerts)])
        return view(row) if row is not None else None


def view(row: Incident) -> IncidentView:
    opened = next((n for n in row.notifications if n.event == "opened"), None)
    return IncidentView(
        id=row.id, product=row.product, datasource=row.datasource, team=row.team, start_day=row.start_day,
        last_day=row.last_day, status=row.status, severity=row.severity, score=row.score, headline=row.headline,
        root_cause=list(row.root_cause or []), verdict=row.verdict, note=row.note,
        acknowledged_by=row.acknowledged_by, acknowledged_at=_aware(row.acknowledged_at),
        resolved_by=row.resolved_by, resolved_at=_aware(row.resolved_at), clean_days=row.clean_days,
        created_at=_aware(row.created_at), members=[member_view(a) for a in row.alerts],
        delivery=opened.status if opened is not None else "pending",
    )  # fmt: skip


def member_view(row: AlertState) -> MemberView:
    payload = row.payload or {}
    alert = Alert.from_json(payload.get("alert") or {"kind": row.kind, "metric": row.metric})
    return MemberView(
        id=row.id, series_id=row.series_id, day=row.day, kind=row.kind, metric=row.metric,
        labels=dict(row.labels or {}), rule=row.rule, severity=row.severity, status=row.status, alert=alert,
        silence_id=row.silence_id,
    )  # fmt: skip


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
