"""Silences: alerts that match are recorded in the incident store but not posted, until the silence ends.

Matchers (all must match): ``datasource`` (required, the unit of permission), ``product``
(exact; any when empty), ``metric`` (a shell glob, ``*`` for all) and ``labels`` (label key ->
glob; the alert must have every key). Alerts that are not anomalies match ``metric`` by a
name of their own: ``check:<check name>``, ``freshness``, ``no_data``.

Example:
    >>> import tempfile
    >>> from lupus_store.metadata import MetadataDB
    >>> db = MetadataDB(f"sqlite:///{tempfile.mkdtemp()}/meta.db"); db.upgrade()
    >>> silence = add_silence(db, datasource="recommend", metric="ranking.*", labels={"region": "JP"},
    ...                       duration=timedelta(hours=2), author="alice", reason="JP feature rollout")
    >>> silence.active(), silence.matches("recommend", "recommend", "ranking.ndcg", {"region": "JP", "k": "10"})
    (True, True)
    >>> silence.matches("recommend", "recommend", "ranking.ndcg", {"region": "US"})
    False
    >>> expire_silence(db, silence.id).active()
    False
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lupus_metrics.errors import LupusValidationError
from lupus_store.metadata import MetadataDB
from lupus_store.metadata.models import Silence

MAX_SILENCE = timedelta(days=366)


@dataclass(frozen=True)
class SilenceView:
    """A silence as read from the store (times are UTC-aware)."""

    id: int
    datasource: str
    product: str | None
    metric: str
    labels: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    author: str = ""
    reason: str = ""
    created_at: datetime | None = None

    def active(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        return self.starts_at <= now < self.ends_at

    def matches(self, datasource: str, product: str | None, name: str | None, labels: Mapping[str, str]) -> bool:
        """Whether an alert of ``datasource``/``product`` named ``name`` with ``labels`` matches (time aside)."""
        if datasource != self.datasource or (self.product and product != self.product):
            return False
        if not fnmatch.fnmatchcase(name or "", self.metric):
            return False
        return all(key in labels and fnmatch.fnmatchcase(str(labels[key]), glob) for key, glob in self.labels.items())

    def to_json(self) -> dict:
        return {
            "id": self.id, "datasource": self.datasource, "product": self.product, "metric": self.metric,
            "labels": dict(self.labels), "starts_at": _iso(self.starts_at), "ends_at": _iso(self.ends_at),
            "author": self.author, "reason": self.reason, "created_at": _iso(self.created_at),
            "active": self.active(),
        }  # fmt: skip


def alert_name(kind: str, metric: str | None, check: str | None = None) -> str | None:
    """The name a silence's ``metric`` glob is matched against.

    >>> alert_name("anomaly", "rows.count"), alert_name("check", None, "ge_validation"), alert_name("no_data", None)
    ('rows.count', 'check:ge_validation', 'no_data')
    """
    if kind == "anomaly":
        return metric
    if kind == "check":
        return f"check:{check or metric}"
    return kind


def add_silence(
    db: MetadataDB,
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
    """Create a silence from ``starts_at`` (default now) to ``ends_at`` (or ``starts_at + duration``).

    Errors name the field: a silence needs an author, a reason, an end after its start, and
    lasts at most a year (a silence nobody remembers is a muted channel).
    """
    now = datetime.now(UTC)
    if (ends_at is None) == (duration is None):
        raise LupusValidationError("ends_at", "give exactly one of ends_at and duration", value=ends_at)
    try:
        start = _aware(starts_at) if starts_at else now
        end = _aware(ends_at) if ends_at else start + duration
    except OverflowError:
        raise LupusValidationError("starts_at", "the window leaves the years 1-9999", value=str(starts_at)) from None
    if end <= start:
        raise LupusValidationError("ends_at", f"must be after the start {start.isoformat()}", value=end.isoformat())
    if end - start > MAX_SILENCE:
        raise LupusValidationError("ends_at", "a silence lasts at most 366 days", value=end.isoformat())
    for name, value in (("author", author), ("reason", reason), ("datasource", datasource)):
        if not value or not str(value).strip():
            raise LupusValidationError(name, "must not be empty", value=value)
    if not metric or not metric.strip():
        raise LupusValidationError("metric", "must be a glob such as 'ranking.*' or '*'", value=metric)
    labels = {str(key): str(value) for key, value in (labels or {}).items()}
    with db.session() as session:
        row = Silence(
            datasource=datasource, product=product or None, metric=metric.strip(), labels=labels,
            starts_at=start, ends_at=end, author=author.strip(), reason=reason.strip(), created_at=now,
        )  # fmt: skip
        session.add(row)
        session.flush()
        return view(row)


def list_silences(
    db: MetadataDB, *, datasources: Iterable[str] | None = None, active_at: datetime | None = None
) -> list[SilenceView]:
    """Silences (of ``datasources``), newest first; ``active_at`` keeps those active at that moment."""
    query = select(Silence).order_by(Silence.id.desc())
    if datasources is not None:
        query = query.where(Silence.datasource.in_(list(datasources)))
    if active_at is not None:
        moment = _aware(active_at)
        query = query.where(Silence.starts_at <= moment, Silence.ends_at > moment)
    with db.session() as session:
        return [view(row) for row in session.scalars(query)]


def get_silence(db: MetadataDB, silence_id: int) -> SilenceView | None:
    with db.session() as session:
        row = session.get(Silence, silence_id)
        return view(row) if row is not None else None


def expire_silence(db: MetadataDB, silence_id: int, *, now: datetime | None = None) -> SilenceView:
    """End a silence now (kept for the record). Raises ``LookupError`` for an unknown id."""
    now = _aware(now) if now else datetime.now(UTC)
    with db.session() as session:
        row = session.get(Silence, silence_id)
        if row is None:
            raise LookupError(f"no silence with id {silence_id}")
        if _aware(row.ends_at) > now:
            row.ends_at = max(now, _aware(row.starts_at) + timedelta(microseconds=1))
        return view(row)


def active_silences(session: Session, datasources: Iterable[str], now: datetime) -> list[SilenceView]:
    """Silences of ``datasources`` active at ``now``, read in an open session."""
    names = list(datasources)
    if not names:
        return []
    moment = _aware(now)
    rows = session.scalars(
        select(Silence).where(Silence.datasource.in_(names), Silence.starts_at <= moment, Silence.ends_at > moment)
    )
    return [view(row) for row in rows]


def view(row: Silence) -> SilenceView:
    return SilenceView(
        id=row.id, datasource=row.datasource, product=row.product, metric=row.metric, labels=dict(row.labels or {}),
        starts_at=_aware(row.starts_at), ends_at=_aware(row.ends_at), author=row.author, reason=row.reason,
        created_at=_aware(row.created_at) if row.created_at else None,
    )  # fmt: skip


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns, and stores an offset as text (so
    # "10:00+05:00" sorts after "06:00+00:00" in its CHECK and its comparisons): everything is kept in UTC.
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
