"""What people say about incidents: acknowledge with a verdict, resolve by hand, and each rule's precision.

Verdicts: ``real`` (a real problem), ``false_alarm`` (nothing was wrong), ``expected`` (a real
change that was planned, e.g. a model release). A rule's **precision** is the share of its
judged incidents that were real: ``real / (real + false_alarm + expected)``, counted once per
incident for every rule with an alert in it.

Example:
    >>> import tempfile
    >>> from datetime import date
    >>> from lupus_store.incidents.alert import Alert
    >>> from lupus_store.incidents.records import Candidate, record
    >>> from lupus_store.metadata import MetadataDB
    >>> db = MetadataDB(f"sqlite:///{tempfile.mkdtemp()}/meta.db"); db.upgrade()
    >>> _ = record(db, [Candidate("shop", "shop", "s1", date(2026, 1, 10), "anomaly", "rows.count", 6.0,
    ...                           Alert("anomaly", "rows.count", value=5.0, expected=100.0), rule="detect[0]")])
    >>> acknowledge(db, 1, verdict="real", by="alice", note="upstream table half empty").status
    'acknowledged'
    >>> [(p.rule, p.judged, p.precision) for p in rule_precision(db)]
    [('detect[0]', 1, 1.0)]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from lupus_metrics.errors import LupusValidationError
from lupus_store.incidents.views import IncidentView, view
from lupus_store.metadata import MetadataDB
from lupus_store.metadata.models import VERDICTS, AlertState, Incident


class IncidentNotFoundError(LookupError):
    """No incident with that id."""


@dataclass(frozen=True)
class RulePrecision:
    """How often one rule's alerts were judged real."""

    product: str
    rule: str
    incidents: int
    judged: int
    real: int
    false_alarm: int
    expected: int

    @property
    def precision(self) -> float | None:
        """``real / judged``; None before anything was judged."""
        return self.real / self.judged if self.judged else None

    def to_json(self) -> dict:
        return {"product": self.product, "rule": self.rule, "incidents": self.incidents, "judged": self.judged,
                "real": self.real, "false_alarm": self.false_alarm, "expected": self.expected,
                "precision": self.precision}  # fmt: skip


def acknowledge(
    db: MetadataDB, incident_id: int, *, verdict: str, by: str, note: str | None = None, now: datetime | None = None
) -> IncidentView:
    """Take an incident: status ``acknowledged`` (a resolved one keeps its status), with a verdict and a note."""
    if verdict not in VERDICTS:
        raise LupusValidationError("verdict", f"must be one of {', '.join(VERDICTS)}", value=verdict)
    if not by or not by.strip():
        raise LupusValidationError("by", "say who acknowledges", value=by)
    with db.session() as session:
        incident = _get(session, incident_id)
        if incident.status == "open":
            incident.status = "acknowledged"
        incident.verdict = verdict
        incident.note = (note or "").strip() or incident.note
        incident.acknowledged_by = by.strip()
        incident.acknowledged_at = now or datetime.now(UTC)
        return view(incident)


def resolve(db: MetadataDB, incident_id: int, *, by: str, note: str | None = None) -> IncidentView:
    """Resolve an incident by hand (a later alert of its series opens a new incident)."""
    with db.session() as session:
        incident = _get(session, incident_id)
        if incident.status != "resolved":
            incident.status = "resolved"
            incident.resolved_at = datetime.now(UTC)
            incident.resolved_by = by.strip() or "someone"
        if note and note.strip():
            incident.note = note.strip()
        return view(incident)


def rule_precision(
    db: MetadataDB, *, datasources: Iterable[str] | None = None, product: str | None = None
) -> list[RulePrecision]:
    """Per product and rule: incidents with an alert of the rule, how many were judged, and how."""
    query = select(AlertState.rule, Incident.id, Incident.product, Incident.verdict).join(
        Incident, Incident.id == AlertState.incident_id
    )
    if datasources is not None:
        query = query.where(Incident.datasource.in_(list(datasources)))
    if product is not None:
        query = query.where(Incident.product == product)
    seen: dict[tuple[str, str], dict[int, str | None]] = defaultdict(dict)
    with db.session() as session:
        for rule, incident_id, incident_product, verdict in session.execute(query):
            seen[(incident_product, rule or "unknown")][incident_id] = verdict
    out = []
    for (incident_product, rule), verdicts in sorted(seen.items()):
        values = list(verdicts.values())
        judged = sum(v is not None for v in values)
        counts = [values.count(v) for v in VERDICTS]
        out.append(RulePrecision(incident_product, rule, len(values), judged, *counts))
    return out


def _get(session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise IncidentNotFoundError(f"no incident with id {incident_id}")
    return incident
