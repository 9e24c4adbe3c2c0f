"""The notification outbox: which incident messages are owed, and what happened when posting them.

A notification is ``pending`` until delivered; a failed post keeps it pending (``attempts``
and ``last_error`` kept, never the webhook URL), so the next sensor tick posts it again and
nothing is lost. Before each delivery round, silences are applied again:

- a pending alert that a silence created since now matches becomes ``silenced`` (never posted);
  a notification left with nothing to tell becomes ``silenced``;
- a silenced alert whose silence has ended, in an incident that is not resolved, is released:
  its incident's ``opened`` message becomes pending if it had not been posted, otherwise an
  ``unsilenced`` message names the released alerts. So an alert is posted after its silence
  expires, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from lupus_store.incidents.alert import Alert
from lupus_store.incidents.silences import active_silences, alert_name
from lupus_store.incidents.views import IncidentView, member_view, view
from lupus_store.metadata import MetadataDB
from lupus_store.metadata.models import AlertState, Incident, IncidentNotification

TOLD = ("pending", "sent", "acknowledged")  # member statuses a message may name (not silenced)


@dataclass(frozen=True)
class Outgoing:
    """A message owed to the channel: ``event`` about ``incident``, naming ``alerts``."""

    notification_id: int
    event: str
    incident: IncidentView
    alerts: list[Alert]
    attempts: int


def pending_notifications(db: MetadataDB, *, product: str, now: datetime | None = None) -> list[Outgoing]:
    """Messages owed for ``product``'s incidents, oldest incident first (silences applied first)."""
    now = now or datetime.now(UTC)
    _apply_silences(db, product, now)
    with db.session() as session:
        rows = session.execute(
            select(IncidentNotification, Incident)
            .join(Incident, Incident.id == IncidentNotification.incident_id)
            .where(Incident.product == product, IncidentNotification.status == "pending")
            .order_by(Incident.start_day, Incident.id, IncidentNotification.id)
        ).all()
        out = []
        for notification, incident in rows:
            members = [member_view(a) for a in incident.alerts]
            if notification.event == "unsilenced":
                named = [m for m in members if m.id in set(notification.alert_ids or [])]
            else:
                named = [m for m in members if m.status in TOLD]
            if not named:
                notification.status = "silenced"
                continue
            named.sort(key=lambda m: (-m.severity, m.day, m.id))
            out.append(Outgoing(notification.id, notification.event, view(incident), [m.alert for m in named],
                                notification.attempts))  # fmt: skip
    return out


def mark_sent(db: MetadataDB, notification_id: int, *, channel: str | None = None, now: datetime | None = None) -> None:
    """The message was delivered: it is ``sent``, and so are the pending alerts it named."""
    now = now or datetime.now(UTC)
    with db.session() as session:
        notification = session.get(IncidentNotification, notification_id)
        notification.status = "sent"
        notification.sent_at = now
        notification.attempts += 1
        notification.last_error = None
        notification.channel = channel
        for alert in _named(session, notification):
            alert.attempts += 1
            alert.last_error = None
            if alert.status == "pending":
                alert.status = "sent"
                alert.sent_at = now


def mark_failed(db: MetadataDB, notification_id: int, error: str) -> None:
    """The post failed: the message stays pending for the next tick, with the error kept."""
    with db.session() as session:
        notification = session.get(IncidentNotification, notification_id)
        notification.attempts += 1
        notification.last_error = error[:2000]
        for alert in _named(session, notification):
            alert.attempts += 1
            alert.last_error = error[:2000]


def _named(session, notification: IncidentNotification) -> list[AlertState]:
    query = select(AlertState).where(AlertState.incident_id == notification.incident_id)
    if notification.event == "unsilenced":
        query = query.where(AlertState.id.in_(list(notification.alert_ids or [])))
    elif notification.event == "resolved":
        return []
    else:
        query = query.where(AlertState.status.in_(TOLD))
    return list(session.scalars(query))


def _apply_silences(db: MetadataDB, product: str, now: datetime) -> None:
    with db.session() as session:
        members = session.scalars(
            select(AlertState)
            .join(Incident, Incident.id == AlertState.incident_id)
            .where(Incident.product == product, AlertState.status.in_(("pending", "silenced")))
        ).all()
        if not members:
            return
        silences = active_silences(session, {m.datasource for m in members}, now)
        released: dict[int, list[int]] = {}
        for member in members:
            match = _matching_member(silences, member)
            if member.status == "pending" and match is not None:
                member.status, member.silence_id = "silenced", match.id
            elif member.status == "silenced" and match is None:
                incident = session.get(Incident, member.incident_id)
                if incident.status == "resolved":
                    continue  # the problem is over: nothing to tell after the silence
                member.status = "pending"
                released.setdefault(incident.id, []).append(member.id)
            elif member.status == "silenced" and match is not None and member.silence_id != match.id:
                member.silence_id = match.id  # another silence still covers it
        for incident_id, ids in released.items():
            opened = session.scalars(
                select(IncidentNotification).where(
                    IncidentNotification.incident_id == incident_id, IncidentNotification.event == "opened"
                )
            ).first()
            if opened is None or opened.status != "sent":
                if opened is not None:
                    opened.status = "pending"
                continue
            waiting = session.scalars(
                select(IncidentNotification).where(
                    IncidentNotification.incident_id == incident_id,
                    IncidentNotification.event == "unsilenced",
                    IncidentNotification.status == "pending",
                )
            ).first()
            if waiting is not None:
                waiting.alert_ids = sorted({*(waiting.alert_ids or []), *ids})
            else:
                session.add(IncidentNotification(incident_id=incident_id, event="unsilenced", status="pending",
                                                 alert_ids=sorted(ids)))  # fmt: skip


def _matching_member(silences, member: AlertState):
    alert = (member.payload or {}).get("alert") or {}
    name = alert_name(member.kind, alert.get("metric", member.metric), alert.get("check"))
    labels = dict(member.labels or alert.get("labels") or {})
    product = member.product or (member.payload or {}).get("product")
    return next((s for s in silences if s.matches(member.datasource, product, name, labels)), None)
