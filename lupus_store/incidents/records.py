"""Recording alerts into incidents, and resolving incidents whose members are back in their bands.

:func:`record` takes the alerts a sensor tick found (:class:`Candidate`) and, per product and
day (oldest first):

- drops duplicates: one alert per series, day and kind (a second tick, a re-materialized
  partition); a higher severity updates the stored alert, without a new message;
- attaches an alert related to a member of an open (or acknowledged) incident of the product to
  that incident: a problem that lasts several days is one incident (:mod:`.grouping`);
- groups the other alerts of the day into new incidents, each with a headline
  (:mod:`.headline`) and an ``opened`` notification (the outbox the sensor delivers from);
- records an alert matching an active silence as ``silenced``: kept, not posted. An incident
  whose every alert is silenced has its notification ``silenced`` too.

:func:`resolve_due` resolves incidents whose every member has been back inside its band for the
product's ``resolve_after_days`` (the caller counts those days: :mod:`.evidence`).

Example:
    >>> import tempfile
    >>> from datetime import date
    >>> from lupus_store.metadata import MetadataDB
    >>> db = MetadataDB(f"sqlite:///{tempfile.mkdtemp()}/meta.db"); db.upgrade()
    >>> def alert(metric, labels, value):
    ...     return Candidate("recommend", "recommend", f"{metric}{labels}", date(2026, 10, 30), "anomaly", metric, 9.0,
    ...                      Alert("anomaly", metric, labels, value=value, expected=0.63, score=-9.0))
    >>> record(db, [alert("ranking.recall", {"region": "JP"}, 0.18), alert("ranking.ndcg", {"region": "JP"}, 0.2)])
    RecordReport(new=2, attached=0, opened=1, duplicates=0, updated=0, silenced=0)
    >>> record(db, [alert("ranking.recall", {"region": "JP"}, 0.18)]).duplicates
    1
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from lupus_store.incidents.alert import Alert
from lupus_store.incidents.grouping import AlertKey, assign
from lupus_store.incidents.headline import headline
from lupus_store.incidents.silences import SilenceView, active_silences, alert_name
from lupus_store.metadata import MetadataDB
from lupus_store.metadata.models import AlertState, Incident, IncidentNotification

# Severities closer than this are the same severity (floats re-computed by a re-run differ in the last bits).
SEVERITY_TOLERANCE = 1e-9
LEVELS = ("warning", "critical")


@dataclass(frozen=True)
class Candidate:
    """An alert a sensor (or a backtest) found; it becomes one member of an incident.

    ``severity`` orders alerts (``|score|`` for anomalies); ``level`` routes the incident
    (``critical`` or ``warning``); ``rule`` names what raised it, for each rule's precision.
    """

    product: str
    datasource: str
    series_id: str
    day: date
    kind: str
    metric: str | None
    severity: float
    alert: Alert
    rule: str | None = None
    level: str = "warning"
    team: str | None = None

    def key(self) -> AlertKey:
        return AlertKey(self.kind, self.alert.metric, dict(self.alert.labels or {}), tuple(self.alert.concerns or ()))


@dataclass(frozen=True)
class RecordReport:
    """What :func:`record` did: new alerts (attached to open incidents, or in ``opened`` new ones)."""

    new: int = 0
    attached: int = 0
    opened: int = 0
    duplicates: int = 0
    updated: int = 0
    silenced: int = 0


@dataclass
class _Counts:
    new: int = 0
    attached: int = 0
    opened: int = 0
    duplicates: int = 0
    updated: int = 0
    silenced: int = 0
    touched: set[int] = field(default_factory=set)

    def report(self) -> RecordReport:
        return RecordReport(self.new, self.attached, self.opened, self.duplicates, self.updated, self.silenced)


def record(db: MetadataDB, candidates: Iterable[Candidate], *, now: datetime | None = None) -> RecordReport:
    """Store ``candidates`` as incident members by the rules of the module docstring."""
    now = now or datetime.now(UTC)
    by_product: dict[tuple[str, str], dict[date, list[Candidate]]] = defaultdict(lambda: defaultdict(list))
    for candidate in _strongest(candidates):
        by_product[(candidate.product, candidate.datasource)][candidate.day].append(candidate)
    counts = _Counts()
    with db.session() as session:
        silences = active_silences(session, {datasource for _, datasource in by_product}, now)
        for (product, datasource), days in by_product.items():
            for day in sorted(days):
                _record_day(session, product, datasource, days[day], silences, counts, now)
        session.flush()
        for incident_id in counts.touched:
            _refresh(session, session.get(Incident, incident_id))
    return counts.report()


def open_incidents(db: MetadataDB, *, product: str) -> list[OpenIncident]:
    """The product's open and acknowledged incidents with their members' keys (for resolution)."""
    with db.session() as session:
        rows = session.scalars(_open_query(product)).all()
        return [OpenIncident(row.id, row.last_day, [_member(alert) for alert in row.alerts]) for row in rows]


@dataclass(frozen=True)
class Member:
    series_id: str
    day: date
    kind: str
    key: AlertKey


@dataclass(frozen=True)
class OpenIncident:
    id: int
    last_day: date
    members: list[Member]


def resolve_due(
    db: MetadataDB,
    clean_days: Mapping[int, int],
    *,
    after_days: int,
    notify: bool = False,
    now: datetime | None = None,
) -> list[int]:
    """Resolve the incidents whose ``clean_days`` (id -> days every member was back in band) reach ``after_days``.

    Each open incident's count is stored (the app shows "back in band for 2 of 3 days"). With
    ``notify``, a resolved incident whose opening message was delivered gets a ``resolved``
    notification. Returns the resolved ids.
    """
    now = now or datetime.now(UTC)
    resolved = []
    with db.session() as session:
        for incident_id, days in clean_days.items():
            incident = session.get(Incident, incident_id)
            if incident is None or incident.status == "resolved":
                continue
            incident.clean_days = days
            if days < after_days:
                continue
            incident.status = "resolved"
            incident.resolved_at = now
            incident.resolved_by = f"lupus: back in band for {days} day(s)"
            resolved.append(incident_id)
            opened = next((n for n in incident.notifications if n.event == "opened"), None)
            if notify and opened is not None and opened.status == "sent":
                session.add(IncidentNotification(incident_id=incident_id, event="resolved", status="pending"))
    return resolved


# --- one product and day ----------------------------------------------------------------------


def _record_day(
    session: Session,
    product: str,
    datasource: str,
    candidates: list[Candidate],
    silences: list[SilenceView],
    counts: _Counts,
    now: datetime,
) -> None:
    fresh = []
    for candidate in candidates:
        existing = session.scalars(
            select(AlertState).where(
                AlertState.series_id == candidate.series_id,
                AlertState.day == candidate.day,
                AlertState.kind == candidate.kind,
            )
        ).one_or_none()
        if existing is None:
            fresh.append(candidate)
        elif existing.status != "acknowledged" and candidate.severity > existing.severity + SEVERITY_TOLERANCE:
            previous = existing.severity
            existing.severity = candidate.severity
            existing.payload = _payload(candidate, previous)
            counts.updated += 1
            if existing.incident_id is not None:
                counts.touched.add(existing.incident_id)
        else:
            counts.duplicates += 1
    if not fresh:
        return
    incidents = {row.id: row for row in session.scalars(_open_query(product)).all()}
    placements = assign(
        {incident_id: [_member(alert).key for alert in row.alerts] for incident_id, row in incidents.items()},
        [candidate.key() for candidate in fresh],
    )
    created: dict[int, Incident] = {}
    for candidate, placement in zip(fresh, placements, strict=True):
        if placement.incident is not None:
            incident = incidents[placement.incident]
        elif placement.group in created:
            incident = created[placement.group]
        else:
            incident = Incident(
                product=product, datasource=datasource, team=candidate.team, start_day=candidate.day,
                last_day=candidate.day, status="open", severity="warning", score=0.0, headline="", root_cause=[],
                clean_days=0, created_at=now, updated_at=now,
            )  # fmt: skip
            session.add(incident)
            session.flush()
            session.add(IncidentNotification(incident_id=incident.id, event="opened", status="silenced"))
            created[placement.group] = incident
        silence = _matching(silences, candidate)
        opened = _opened(session, incident)
        status = "silenced" if silence else ("sent" if opened.status == "sent" else "pending")
        if not _insert(session, candidate, incident.id, status, silence):
            counts.duplicates += 1  # a concurrent writer recorded it first
            continue
        counts.new += 1
        counts.silenced += silence is not None
        if placement.incident is not None:
            counts.attached += 1
        if status == "pending" and opened.status == "silenced":
            opened.status = "pending"  # something to tell now
        incident.last_day = max(incident.last_day, candidate.day)
        counts.touched.add(incident.id)
    counts.opened += len(created)


def _refresh(session: Session, incident: Incident | None) -> None:
    """Headline, severity, score and root cause from the members."""
    if incident is None:
        return
    members = session.scalars(
        select(AlertState).where(AlertState.incident_id == incident.id).order_by(AlertState.day, AlertState.id)
    ).all()
    if not members:
        return
    members = sorted(members, key=lambda a: (a.day, -a.severity, a.id))
    alerts = [Alert.from_json((a.payload or {}).get("alert") or {"kind": a.kind, "metric": a.metric}) for a in members]
    first_day = [alert for alert, member in zip(alerts, members, strict=True) if member.day == incident.start_day]
    text = headline(incident.product, incident.start_day, first_day or alerts)
    later = len(alerts) - len(first_day)
    if later and first_day:
        text += f"; continuing through {incident.last_day.isoformat()} ({later} later alert{'s' if later > 1 else ''})"
    incident.headline = text
    incident.score = max(member.severity for member in members)
    levels = [(member.payload or {}).get("level", "warning") for member in members]
    incident.severity = max(levels, key=LEVELS.index) if levels else "warning"
    causes = [
        {"metric": alert.metric, "labels": alert.labels, **alert.root_cause}
        for alert, member in sorted(zip(alerts, members, strict=True), key=lambda pair: -pair[1].severity)
        if alert.root_cause and alert.root_cause.get("slices")
    ]
    incident.root_cause = causes


def _opened(session: Session, incident: Incident) -> IncidentNotification:
    opened = session.scalars(
        select(IncidentNotification).where(
            IncidentNotification.incident_id == incident.id, IncidentNotification.event == "opened"
        )
    ).first()
    if opened is None:  # an incident recorded before notifications existed
        opened = IncidentNotification(incident_id=incident.id, event="opened", status="sent")
        session.add(opened)
        session.flush()
    return opened


def _insert(session: Session, candidate: Candidate, incident_id: int, status: str, silence: SilenceView | None) -> bool:
    try:
        with session.begin_nested():  # a savepoint: a unique violation must not undo the other rows
            session.add(
                AlertState(
                    datasource=candidate.datasource, product=candidate.product, series_id=candidate.series_id,
                    day=candidate.day, kind=candidate.kind, metric=candidate.metric,
                    labels=dict(candidate.alert.labels or {}), rule=candidate.rule, severity=candidate.severity,
                    status=status, attempts=0, payload=_payload(candidate, None), incident_id=incident_id,
                    silence_id=silence.id if silence else None,
                )
            )  # fmt: skip
    except IntegrityError:
        return False
    return True


def _payload(candidate: Candidate, previous_severity: float | None) -> dict:
    alert = Alert.from_json(candidate.alert.to_json())
    alert.previous_severity = previous_severity
    return {"product": candidate.product, "level": candidate.level, "alert": alert.to_json()}


def _member(row: AlertState) -> Member:
    alert = (row.payload or {}).get("alert") or {}
    key = AlertKey(row.kind, alert.get("metric", row.metric), dict(row.labels or alert.get("labels") or {}),
                   tuple(alert.get("concerns") or ()))  # fmt: skip
    return Member(row.series_id, row.day, row.kind, key)


def _open_query(product: str):
    return (
        select(Incident)
        .where(Incident.product == product, Incident.status.in_(("open", "acknowledged")))
        .options(selectinload(Incident.alerts))
        .order_by(Incident.id)
        .execution_options(populate_existing=True)  # members added earlier in this session must show
    )


def _matching(silences: Sequence[SilenceView], candidate: Candidate) -> SilenceView | None:
    name = alert_name(candidate.kind, candidate.alert.metric, candidate.alert.check)
    labels = candidate.alert.labels or {}
    return next((s for s in silences if s.matches(candidate.datasource, candidate.product, name, labels)), None)


def _strongest(candidates: Iterable[Candidate]) -> list[Candidate]:
    """One candidate per (series, day, kind): the most severe (a run may flag a series twice)."""
    best: dict[tuple[str, date, str], Candidate] = {}
    for candidate in candidates:
        key = (candidate.series_id, candidate.day, candidate.kind)
        if key not in best or candidate.severity > best[key].severity:
            best[key] = candidate
    return list(best.values())
