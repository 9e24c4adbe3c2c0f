"""De-duplication and pending alerts, kept in the metadata table ``alert_states``.

Rules (one row per series, day and kind):

- A new (series, day, kind) is recorded ``pending``.
- The same series, day and kind again at the same or a lower severity is a duplicate: nothing
  is sent again (a second sensor tick, a re-materialized partition).
- A higher severity re-alerts: a ``sent`` row goes back to ``pending`` with the new values
  and ``previous_severity`` in its alert; a ``pending`` row just takes the new values.
- An ``acknowledged`` row is never re-alerted: a person owns that series for the day.
- Delivery marks rows ``sent``; a failed delivery keeps them ``pending``, counts ``attempts``
  and keeps ``last_error``, so the next tick tries again and nothing is lost.

Example:
    >>> import tempfile
    >>> from datetime import date
    >>> from lupus_store.metadata import MetadataDB
    >>> from lupus_dagster.resources.alert_message import Alert
    >>> db = MetadataDB(f"sqlite:///{tempfile.mkdtemp()}/meta.db"); db.upgrade()
    >>> candidate = Candidate(product="shop", datasource="ds", series_id="abc", day=date(2026, 1, 10),
    ...                       kind="anomaly", metric="rows.count", severity=6.0, alert=Alert("anomaly", "rows.count"))
    >>> record_candidates(db, [candidate]), record_candidates(db, [candidate])
    (RecordReport(new=1, realerts=0, duplicates=0), RecordReport(new=0, realerts=0, duplicates=1))
    >>> [(day, len(alerts)) for day, alerts in pending_by_day(db, datasource="ds", product="shop").items()]
    [('2026-01-10', 1)]
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lupus_dagster.resources.alert_message import Alert
from lupus_store.metadata import AlertState, MetadataDB

# Severities closer than this are the same severity (floats re-computed by a re-run differ in the last bits).
SEVERITY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Candidate:
    """An alert the sensor found; it becomes (or updates) one ``alert_states`` row."""

    product: str
    datasource: str
    series_id: str
    day: date
    kind: str
    metric: str | None
    severity: float
    alert: Alert


@dataclass(frozen=True)
class RecordReport:
    new: int = 0
    realerts: int = 0
    duplicates: int = 0


@dataclass(frozen=True)
class PendingAlert:
    state_id: int
    attempts: int
    alert: Alert


def record_candidates(db: MetadataDB, candidates: list[Candidate]) -> RecordReport:
    """Insert or update the ``alert_states`` rows of ``candidates`` by the rules above."""
    new = realerts = duplicates = 0
    with db.session() as session:
        for candidate in _strongest(candidates):
            state = session.scalars(
                select(AlertState).where(
                    AlertState.series_id == candidate.series_id,
                    AlertState.day == candidate.day,
                    AlertState.kind == candidate.kind,
                )
            ).one_or_none()
            if state is None:
                if _insert(session, candidate):
                    new += 1
                else:
                    duplicates += 1  # a concurrent writer recorded it first
            elif state.status == "acknowledged" or candidate.severity <= state.severity + SEVERITY_TOLERANCE:
                duplicates += 1
            else:
                previous = state.severity if state.status == "sent" else _previous(state)
                if state.status == "sent":
                    realerts += 1
                    state.attempts = 0
                    state.last_error = None
                    state.sent_at = None
                state.status = "pending"
                state.severity = candidate.severity
                state.metric = candidate.metric
                state.payload = _payload(candidate, previous)
    return RecordReport(new=new, realerts=realerts, duplicates=duplicates)


def pending_by_day(db: MetadataDB, *, datasource: str, product: str) -> dict[str, list[PendingAlert]]:
    """Pending alerts of one product, grouped by day (oldest day first), strongest first within a day."""
    with db.session() as session:
        states = session.scalars(
            select(AlertState)
            .where(AlertState.datasource == datasource, AlertState.status == "pending")
            .order_by(AlertState.day, AlertState.severity.desc(), AlertState.id)
        ).all()
        groups: dict[str, list[PendingAlert]] = defaultdict(list)
        for state in states:
            payload = state.payload or {}
            if payload.get("product", product) != product:
                continue  # another product on the same datasource sends its own
            groups[state.day.isoformat()].append(
                PendingAlert(
                    state.id,
                    state.attempts,
                    Alert.from_json(payload.get("alert") or {"kind": state.kind, "metric": state.metric}),
                )
            )
    return dict(groups)


def mark_sent(db: MetadataDB, state_ids: list[int]) -> None:
    now = datetime.now(UTC)
    with db.session() as session:
        for state in session.scalars(select(AlertState).where(AlertState.id.in_(state_ids))):
            state.status = "sent"
            state.sent_at = now
            state.attempts += 1
            state.last_error = None


def mark_failed(db: MetadataDB, state_ids: list[int], error: str) -> None:
    with db.session() as session:
        for state in session.scalars(select(AlertState).where(AlertState.id.in_(state_ids))):
            state.attempts += 1
            state.last_error = error[:2000]


def _strongest(candidates: list[Candidate]) -> list[Candidate]:
    """One candidate per (series, day, kind): the most severe (a run may flag a series twice)."""
    best: dict[tuple[str, date, str], Candidate] = {}
    for candidate in candidates:
        key = (candidate.series_id, candidate.day, candidate.kind)
        if key not in best or candidate.severity > best[key].severity:
            best[key] = candidate
    return list(best.values())


def _insert(session, candidate: Candidate) -> bool:
    try:
        with session.begin_nested():  # a savepoint: a unique violation must not undo the other rows
            session.add(
                AlertState(
                    datasource=candidate.datasource,
                    series_id=candidate.series_id,
                    day=candidate.day,
                    kind=candidate.kind,
                    metric=candidate.metric,
                    severity=candidate.severity,
                    status="pending",
                    attempts=0,
                    payload=_payload(candidate, None),
                )
            )
    except IntegrityError:
        return False
    return True


def _previous(state: AlertState) -> float | None:
    return ((state.payload or {}).get("alert") or {}).get("previous_severity")


def _payload(candidate: Candidate, previous_severity: float | None) -> dict:
    alert = Alert.from_json(candidate.alert.to_json())
    alert.previous_severity = previous_severity
    return {"product": candidate.product, "alert": alert.to_json()}
