"""The incident store: one place for alert state, incidents, silences and feedback.

Everything that alerts or reads alerts goes through here: the alert sensor records what it
found and delivers the owed messages, ``lupus backtest`` groups replayed alerts the same way,
the API, the CLI and the app list incidents, acknowledge them with a verdict, silence alerts
and read each rule's precision. It is stored in the metadata database (SQLite or PostgreSQL;
tables ``incidents``, ``alert_states`` (the member alerts), ``incident_notifications``,
``silences``).

:class:`IncidentStore` is the API for code outside the alert path (the app, the API, the CLI):

    >>> import tempfile
    >>> from datetime import date, timedelta
    >>> from lupus_store.metadata import MetadataDB
    >>> store = IncidentStore(MetadataDB(f"sqlite:///{tempfile.mkdtemp()}/meta.db"))
    >>> report = store.record([Candidate("recommend", "recommend", "abc", date(2026, 10, 30), "anomaly",
    ...     "ranking.recall", 9.0, Alert("anomaly", "ranking.recall", {"region": "JP"}, value=0.18, expected=0.63))])
    >>> [incident] = store.incidents(status="active")
    >>> incident.headline
    'recommend: ranking.recall for region=JP 0.18 vs 0.63 expected (−71 %) on 2026-10-30'
    >>> store.acknowledge(incident.id, verdict="real", by="alice").status
    'acknowledged'
    >>> store.add_silence(datasource="recommend", metric="ranking.*", duration=timedelta(days=1),
    ...                   author="alice", reason="JP fix rolling out").active()
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from lupus_store.incidents import delivery, feedback, records, silences, views
from lupus_store.incidents.alert import Alert, chart_link
from lupus_store.incidents.delivery import Outgoing
from lupus_store.incidents.feedback import IncidentNotFoundError, RulePrecision
from lupus_store.incidents.records import Candidate, OpenIncident, RecordReport
from lupus_store.incidents.silences import SilenceView
from lupus_store.incidents.views import IncidentView, MemberView
from lupus_store.metadata import MetadataDB

__all__ = [
    "Alert", "Candidate", "IncidentNotFoundError", "IncidentStore", "IncidentView", "MemberView", "OpenIncident",
    "Outgoing", "RecordReport", "RulePrecision", "SilenceView", "chart_link",
]  # fmt: skip


class IncidentStore:
    """Incidents, their alerts, silences and feedback in one metadata database (migrated on first use)."""

    def __init__(self, db: MetadataDB | None = None, *, upgrade: bool = True):
        self.db = db or MetadataDB()
        if upgrade:
            self.db.upgrade()

    # -- the alert path (sensor, backtest) ---------------------------------------------------

    def record(self, candidates: Iterable[Candidate], *, now: datetime | None = None) -> RecordReport:
        """Group new alerts into incidents (see :mod:`lupus_store.incidents.records`)."""
        return records.record(self.db, candidates, now=now)

    def open_incidents(self, product: str) -> list[OpenIncident]:
        return records.open_incidents(self.db, product=product)

    def resolve_due(self, clean_days: Mapping[int, int], *, after_days: int, notify: bool = False) -> list[int]:
        return records.resolve_due(self.db, clean_days, after_days=after_days, notify=notify)

    def pending_notifications(self, product: str, *, now: datetime | None = None) -> list[Outgoing]:
        return delivery.pending_notifications(self.db, product=product, now=now)

    def mark_sent(self, notification_id: int, *, channel: str | None = None) -> None:
        delivery.mark_sent(self.db, notification_id, channel=channel)

    def mark_failed(self, notification_id: int, error: str) -> None:
        delivery.mark_failed(self.db, notification_id, error)

    # -- people (app, API, CLI) ---------------------------------------------------------------

    def incidents(
        self,
        *,
        datasources: Iterable[str] | None = None,
        product: str | None = None,
        status: str | Iterable[str] | None = None,
        since: date | None = None,
        limit: int = 200,
    ) -> list[IncidentView]:
        """Incidents, active first, newest first; ``status="active"`` for open and acknowledged."""
        return views.list_incidents(self.db, datasources=datasources, product=product, status=status, since=since,
                                    limit=limit)  # fmt: skip

    def incident(self, incident_id: int) -> IncidentView | None:
        return views.get_incident(self.db, incident_id)

    def acknowledge(self, incident_id: int, *, verdict: str, by: str, note: str | None = None) -> IncidentView:
        """Verdict ``real``, ``false_alarm`` or ``expected``; raises IncidentNotFoundError for an unknown id."""
        return feedback.acknowledge(self.db, incident_id, verdict=verdict, by=by, note=note)

    def resolve(self, incident_id: int, *, by: str, note: str | None = None) -> IncidentView:
        return feedback.resolve(self.db, incident_id, by=by, note=note)

    def rule_precision(
        self, *, datasources: Iterable[str] | None = None, product: str | None = None
    ) -> list[RulePrecision]:
        return feedback.rule_precision(self.db, datasources=datasources, product=product)

    def add_silence(
        self,
        *,
        datasource: str,
        author: str,
        reason: str,
        product: str | None = None,
        metric: str = "*",
        labels: Mapping[str, str] | None = None,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        duration: timedelta | None = None,
    ) -> SilenceView:
        """Silence matching alerts from ``starts_at`` (now) until ``ends_at`` or for ``duration``."""
        return silences.add_silence(self.db, datasource=datasource, author=author, reason=reason, product=product,
                                    metric=metric, labels=labels, starts_at=starts_at, ends_at=ends_at,
                                    duration=duration)  # fmt: skip

    def silences(
        self, *, datasources: Iterable[str] | None = None, active_at: datetime | None = None
    ) -> list[SilenceView]:
        return silences.list_silences(self.db, datasources=datasources, active_at=active_at)

    def silence(self, silence_id: int) -> SilenceView | None:
        return silences.get_silence(self.db, silence_id)

    def expire_silence(self, silence_id: int) -> SilenceView:
        """End a silence now; raises LookupError for an unknown id."""
        return silences.expire_silence(self.db, silence_id)
