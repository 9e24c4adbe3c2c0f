"""Markers: events of a datasource that people or deploy jobs push (a model release, a migration), drawn on its
charts next to the alerts, so a PM sees "v2 shipped here" where a series moved.

Pushed through the API (``POST /api/v1/datasources/{ds}/markers``, write scope) and read by the app's chart
page. Model releases seen in the data (``churn.version_changed``) need no marker: the app marks them itself.

Example:
    >>> import tempfile
    >>> from lupus_store.metadata import MetadataDB
    >>> db = MetadataDB(f"sqlite:///{tempfile.mkdtemp()}/meta.db"); db.upgrade()
    >>> marker = add_marker(db, datasource="recommend", ts=datetime(2026, 3, 9, 8, 30, tzinfo=UTC),
    ...                     label="ranker v2", author="deploy-bot", note="canary to 100 %")
    >>> [(m.label, m.ts.date().isoformat()) for m in list_markers(db, "recommend", start=date(2026, 3, 1))]
    [('ranker v2', '2026-03-09')]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from lupus_metrics.errors import LupusValidationError
from lupus_store.metadata import MetadataDB
from lupus_store.metadata.models import Marker

KINDS = ("release", "deploy", "data", "other")


@dataclass(frozen=True)
class MarkerView:
    """A marker as read from the store (``ts`` UTC-aware)."""

    id: int
    datasource: str
    ts: datetime
    kind: str
    label: str
    note: str | None
    author: str
    created_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "datasource": self.datasource, "ts": self.ts.isoformat(), "kind": self.kind,
                "label": self.label, "note": self.note, "author": self.author,
                "created_at": self.created_at.isoformat() if self.created_at else None}  # fmt: skip


def add_marker(
    db: MetadataDB,
    *,
    datasource: str,
    label: str,
    author: str,
    ts: datetime | None = None,
    kind: str = "release",
    note: str | None = None,
) -> MarkerView:
    """Store a marker at ``ts`` (default now; a naive time is UTC). Errors name the field."""
    if kind not in KINDS:
        raise LupusValidationError("kind", f"must be one of {', '.join(KINDS)}", value=kind)
    for name, value in (("datasource", datasource), ("label", label), ("author", author)):
        if not value or not str(value).strip():
            raise LupusValidationError(name, "must not be empty", value=value)
    moment = _aware(ts) if ts else datetime.now(UTC)
    with db.session() as session:
        row = Marker(datasource=datasource, ts=moment, kind=kind, label=label.strip(), note=(note or "").strip() or None,
                     author=author.strip(), created_at=datetime.now(UTC))  # fmt: skip
        session.add(row)
        session.flush()
        return view(row)


def list_markers(
    db: MetadataDB, datasource: str, *, start: date | None = None, end: date | None = None
) -> list[MarkerView]:
    """Markers of ``datasource`` on the days ``start..end`` (inclusive, UTC), oldest first."""
    query = select(Marker).where(Marker.datasource == datasource).order_by(Marker.ts, Marker.id)
    if start is not None:
        query = query.where(Marker.ts >= datetime.combine(start, time(), tzinfo=UTC))
    if end is not None:
        query = query.where(Marker.ts < datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC))
    with db.session() as session:
        return [view(row) for row in session.scalars(query)]


def view(row: Marker) -> MarkerView:
    return MarkerView(id=row.id, datasource=row.datasource, ts=_aware(row.ts), kind=row.kind, label=row.label,
                      note=row.note, author=row.author, created_at=_aware(row.created_at) if row.created_at else None)  # fmt: skip


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
