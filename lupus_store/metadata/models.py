"""SQLAlchemy models of the metadata database: who owns what, who may see what, incidents and alert state.

The same models serve SQLite (default) and PostgreSQL (production); the schema is
created and evolved only by the Alembic migrations next to this module.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from lupus_metrics.names import validate_account_name, validate_datasource

# Stable constraint names, so migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ACCESS_LEVELS = ("read", "write", "admin")
TOKEN_SCOPES = ("read", "write", "admin")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Team(Base):
    """A team owns datasources and groups users."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="team", cascade="all, delete-orphan")

    @validates("name")
    def _name(self, _: str, name: str) -> str:
        # The name rules of lupus_metrics.names, whichever front door (API, CLI, app) sets the name.
        return validate_account_name(name, field="team")


class User(Base):
    """A person: a local account (hashed password) or one signed in through OpenID Connect."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    oidc_subject: Mapped[str | None] = mapped_column(String(300), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @validates("username")
    def _username(self, _: str, name: str) -> str:
        return validate_account_name(name, field="username")


class Membership(Base):
    """A user belongs to a team, as a member or a team admin."""

    __tablename__ = "memberships"
    __table_args__ = (CheckConstraint("role IN ('member', 'admin')", name="role"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), default="member")

    user: Mapped[User] = relationship(back_populates="memberships")
    team: Mapped[Team] = relationship(back_populates="memberships")


class Datasource(Base):
    """The unit of ownership and permission, e.g. ``service1-recommend``; owned by one team."""

    __tablename__ = "datasources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    owner_team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    owner_team: Mapped[Team] = relationship()
    permissions: Mapped[list[DatasourcePermission]] = relationship(
        back_populates="datasource", cascade="all, delete-orphan"
    )

    @validates("name")
    def _name(self, _: str, name: str) -> str:
        return validate_datasource(name, field="name")


class DatasourcePermission(Base):
    """A team's access to a datasource beyond its owner: ``read``, ``write`` or ``admin``."""

    __tablename__ = "datasource_permissions"
    __table_args__ = (
        UniqueConstraint("datasource_id", "team_id"),
        CheckConstraint("level IN ('read', 'write', 'admin')", name="level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    datasource_id: Mapped[int] = mapped_column(ForeignKey("datasources.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(10), default="read")

    datasource: Mapped[Datasource] = relationship(back_populates="permissions")
    team: Mapped[Team] = relationship()


class ApiToken(Base):
    """A bearer token for the REST API. Only its SHA-256 hash is stored; the prefix helps people tell tokens apart.

    A token is bound to one team (all datasources the team may access) or one datasource,
    with scopes among ``read``, ``write``, ``admin`` and an optional expiry.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("team_id IS NOT NULL OR datasource_id IS NOT NULL OR scopes = 'admin'", name="binding"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(50))  # comma-separated subset of TOKEN_SCOPES
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    datasource_id: Mapped[int | None] = mapped_column(ForeignKey("datasources.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    team: Mapped[Team | None] = relationship()
    datasource: Mapped[Datasource | None] = relationship()

    @validates("name")
    def _name(self, _: str, name: str) -> str:
        return validate_account_name(name, field="name")

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)


class UiSession(Base):
    """A sign-in to the app. The browser holds a random token in an HttpOnly cookie; only its SHA-256 hash is stored.

    A sign-in (password or OpenID Connect) creates the row with a one-time ``handoff_hash``; the browser
    exchanges that code for the cookie within a minute, which sets ``token_hash``. The session is valid
    until ``expires_at`` unless ``revoked_at`` is set (sign-out). ``oidc_identity`` (a hash of the
    identity provider's subject and token issue time) keeps a signed-out single sign-on identity from
    starting a new session in a tab that still holds it.
    """

    __tablename__ = "ui_sessions"
    # AUTOINCREMENT: SQLite would otherwise hand a purged session's id to the next sign-in, and a tab that
    # still holds the old id would resolve it. (PostgreSQL sequences never reuse ids.)
    __table_args__ = (CheckConstraint("source IN ('password', 'oidc')", name="source"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(10), default="password")
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    handoff_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    oidc_identity: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Dashboard(Base):
    """A named, ordered set of charts; private to its owner or shared with a team."""

    __tablename__ = "dashboards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    shared_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    charts: Mapped[list[DashboardChart]] = relationship(
        back_populates="dashboard", cascade="all, delete-orphan", order_by="DashboardChart.position"
    )


class DashboardChart(Base):
    """One chart of a dashboard: a metric of a datasource with its label filters and time range."""

    __tablename__ = "dashboard_charts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dashboard_id: Mapped[int] = mapped_column(ForeignKey("dashboards.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    datasource: Mapped[str] = mapped_column(String(63))
    metric: Mapped[str] = mapped_column(String(200))
    label_filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    time_range: Mapped[str] = mapped_column(String(50), default="90d")
    title: Mapped[str | None] = mapped_column(String(200))

    dashboard: Mapped[Dashboard] = relationship(back_populates="charts")


INCIDENT_STATUSES = ("open", "acknowledged", "resolved")
VERDICTS = ("real", "false_alarm", "expected")
ALERT_STATUSES = ("pending", "sent", "acknowledged", "silenced")
NOTIFICATION_EVENTS = ("opened", "unsilenced", "resolved")
NOTIFICATION_STATUSES = ("pending", "sent", "silenced")


class Incident(Base):
    """Related alerts of one product that started on the same day: what broke, how badly, who owns it.

    ``status`` goes open -> acknowledged -> resolved (automatically once every member is back in
    its band for the product's ``resolve_after_days``, or by a person). ``verdict`` is the
    feedback of whoever acknowledged it: ``real``, ``false_alarm`` or ``expected``.
    ``root_cause`` holds the ranked label slices of the aggregate members (see
    :mod:`lupus_metrics.root_cause`); the logic lives in :mod:`lupus_store.incidents`.
    """

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="status"),
        CheckConstraint("verdict IS NULL OR verdict IN ('real', 'false_alarm', 'expected')", name="verdict"),
        CheckConstraint("severity IN ('critical', 'warning')", name="severity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product: Mapped[str] = mapped_column(String(63), index=True)
    datasource: Mapped[str] = mapped_column(String(63), index=True)
    team: Mapped[str | None] = mapped_column(String(100))
    start_day: Mapped[date] = mapped_column(Date, index=True)
    last_day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    severity: Mapped[str] = mapped_column(String(20), default="warning")
    score: Mapped[float] = mapped_column(Float, default=0.0)
    headline: Mapped[str] = mapped_column(Text, default="")
    root_cause: Mapped[list[Any]] = mapped_column(JSON, default=list)
    verdict: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    clean_days: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    alerts: Mapped[list[AlertState]] = relationship(back_populates="incident", order_by="AlertState.id")
    notifications: Mapped[list[IncidentNotification]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentNotification.id"
    )


class AlertState(Base):
    """One alert per series, day and kind, a member of one incident.

    ``kind`` is ``anomaly``, ``check``, ``freshness`` or ``no_data``. ``status``: ``pending``
    until the message of its incident is delivered, then ``sent``; ``silenced`` while a
    silence matches it (recorded, never posted); ``acknowledged`` when a person took it.
    ``rule`` names what raised it (``detect[0]``, ``check:ge_validation``, ``no_data``,
    ``freshness``), for each rule's measured precision.
    """

    __tablename__ = "alert_states"
    __table_args__ = (
        UniqueConstraint("series_id", "day", "kind"),
        CheckConstraint("status IN ('pending', 'sent', 'acknowledged', 'silenced')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    datasource: Mapped[str] = mapped_column(String(63), index=True)
    product: Mapped[str | None] = mapped_column(String(63))
    series_id: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20), default="anomaly")  # anomaly | check | freshness | no_data
    metric: Mapped[str | None] = mapped_column(String(200))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rule: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    acknowledged_note: Mapped[str | None] = mapped_column(Text)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"), index=True)
    silence_id: Mapped[int | None] = mapped_column(ForeignKey("silences.id", ondelete="SET NULL"))

    incident: Mapped[Incident | None] = relationship(back_populates="alerts")


class IncidentNotification(Base):
    """A message owed to a channel about an incident: ``opened``, ``unsilenced`` (members whose
    silence expired) or ``resolved``. ``pending`` until delivered (retried every sensor tick,
    ``attempts`` and ``last_error`` kept), ``silenced`` while every member it would name is silenced.
    """

    __tablename__ = "incident_notifications"
    __table_args__ = (
        CheckConstraint("event IN ('opened', 'unsilenced', 'resolved')", name="event"),
        CheckConstraint("status IN ('pending', 'sent', 'silenced')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    channel: Mapped[str | None] = mapped_column(String(200))
    alert_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # members named by an `unsilenced` message
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    incident: Mapped[Incident] = relationship(back_populates="notifications")


class Silence(Base):
    """Alerts matching these matchers between ``starts_at`` and ``ends_at`` are recorded, not posted.

    Matchers: ``datasource`` (required: the unit of permission), ``product`` (exact, or any
    when null), ``metric`` (a glob, ``*`` for all) and ``labels`` (key -> glob; every key must
    match). Ending a silence early sets ``ends_at`` to now; rows are kept for the audit trail.
    """

    __tablename__ = "silences"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="window"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    datasource: Mapped[str] = mapped_column(String(63), index=True)
    product: Mapped[str | None] = mapped_column(String(63))
    metric: Mapped[str] = mapped_column(String(200), default="*")
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    author: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IngestBatch(Base):
    """A batch of points pushed through the REST API: staged durably, then moved into the store.

    The idempotency key is unique per datasource, so a re-sent batch maps to the original
    batch id instead of being staged twice. ``status`` is ``staged`` until every day of the
    batch is in the store (writer ``push-<id>``), then ``ingested``.
    """

    __tablename__ = "ingest_batches"
    __table_args__ = (
        UniqueConstraint("datasource", "idempotency_key"),
        CheckConstraint("status IN ('staged', 'ingested', 'failed')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    datasource: Mapped[str] = mapped_column(String(63), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    payload_sha256: Mapped[str] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(Integer)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="staged", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ingested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IngestSeries(Base):
    """A series first pushed through the API: the label-cardinality limit counts these per datasource."""

    __tablename__ = "ingest_series"
    __table_args__ = (UniqueConstraint("datasource", "series_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    datasource: Mapped[str] = mapped_column(String(63), index=True)
    series_id: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DetectionRequest(Base):
    """Anomaly detection requested through the API: a Dagster run (``backend='dagster'``, id = run id)
    or a run in the API's own worker (``backend='local'``)."""

    __tablename__ = "detection_requests"
    __table_args__ = (
        CheckConstraint("backend IN ('dagster', 'local')", name="backend"),
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    datasource: Mapped[str] = mapped_column(String(63), index=True)
    backend: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A local request runs in the API process that claimed it; the claim lapses when its heartbeat stops.
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Marker(Base):
    """An event of a datasource pushed by a person or a deploy job (e.g. a model release), drawn on its charts."""

    __tablename__ = "markers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    datasource: Mapped[str] = mapped_column(String(63), index=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="release")
    label: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
