"""incidents, silences, notifications; alert_states become the members of incidents

Every existing alert state row is moved into an incident (one per datasource, product and
day, open, or acknowledged when a person had acknowledged one of its rows) with an
``opened`` notification that is ``sent`` when all its rows were, ``pending`` otherwise, so
alerts not yet delivered before the upgrade are still delivered after it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=63), nullable=False),
        sa.Column("datasource", sa.String(length=63), nullable=False),
        sa.Column("team", sa.String(length=100), nullable=True),
        sa.Column("start_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("root_cause", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("clean_days", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("severity IN ('critical', 'warning')", name=op.f("ck_incidents_severity")),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name=op.f("ck_incidents_status")),
        sa.CheckConstraint(
            "verdict IS NULL OR verdict IN ('real', 'false_alarm', 'expected')", name=op.f("ck_incidents_verdict")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incidents_datasource"), ["datasource"], unique=False)
        batch_op.create_index(batch_op.f("ix_incidents_product"), ["product"], unique=False)
        batch_op.create_index(batch_op.f("ix_incidents_start_day"), ["start_day"], unique=False)
        batch_op.create_index(batch_op.f("ix_incidents_status"), ["status"], unique=False)

    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("datasource", sa.String(length=63), nullable=False),
        sa.Column("product", sa.String(length=63), nullable=True),
        sa.Column("metric", sa.String(length=200), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_silences_window")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    with op.batch_alter_table("silences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_silences_datasource"), ["datasource"], unique=False)
        batch_op.create_index(batch_op.f("ix_silences_ends_at"), ["ends_at"], unique=False)

    op.create_table(
        "incident_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=True),
        sa.Column("alert_ids", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "event IN ('opened', 'unsilenced', 'resolved')", name=op.f("ck_incident_notifications_event")
        ),
        sa.CheckConstraint("status IN ('pending', 'sent', 'silenced')", name=op.f("ck_incident_notifications_status")),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_notifications_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_notifications")),
    )
    with op.batch_alter_table("incident_notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_notifications_incident_id"), ["incident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_notifications_status"), ["status"], unique=False)

    with op.batch_alter_table("alert_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("product", sa.String(length=63), nullable=True))
        batch_op.add_column(sa.Column("labels", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("rule", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("incident_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("silence_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_alert_states_incident_id"), ["incident_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_alert_states_incident_id_incidents"),
            "incidents",
            ["incident_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_alert_states_silence_id_silences"), "silences", ["silence_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.drop_constraint(batch_op.f("ck_alert_states_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_alert_states_status"), "status IN ('pending', 'sent', 'acknowledged', 'silenced')"
        )

    _move_alert_states_into_incidents()
    with op.batch_alter_table("alert_states", schema=None) as batch_op:
        batch_op.alter_column("labels", existing_type=sa.JSON(), nullable=False)


# Lightweight tables: a migration must not import models that later revisions change.
_alerts = sa.table(
    "alert_states",
    sa.column("id", sa.Integer),
    sa.column("datasource", sa.String),
    sa.column("product", sa.String),
    sa.column("day", sa.Date),
    sa.column("kind", sa.String),
    sa.column("metric", sa.String),
    sa.column("labels", sa.JSON),
    sa.column("severity", sa.Float),
    sa.column("status", sa.String),
    sa.column("payload", sa.JSON),
    sa.column("incident_id", sa.Integer),
    sa.column("created_at", sa.DateTime),
)
_incidents = sa.table(
    "incidents",
    sa.column("id", sa.Integer),
    sa.column("product", sa.String),
    sa.column("datasource", sa.String),
    sa.column("start_day", sa.Date),
    sa.column("last_day", sa.Date),
    sa.column("status", sa.String),
    sa.column("severity", sa.String),
    sa.column("score", sa.Float),
    sa.column("headline", sa.Text),
    sa.column("root_cause", sa.JSON),
    sa.column("clean_days", sa.Integer),
    sa.column("created_at", sa.DateTime),
    sa.column("updated_at", sa.DateTime),
)
_notifications = sa.table(
    "incident_notifications",
    sa.column("incident_id", sa.Integer),
    sa.column("event", sa.String),
    sa.column("status", sa.String),
    sa.column("alert_ids", sa.JSON),
    sa.column("attempts", sa.Integer),
    sa.column("created_at", sa.DateTime),
)


def _move_alert_states_into_incidents() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(_alerts)).mappings().all()
    groups = defaultdict(list)
    for row in rows:
        payload = row["payload"] or {}
        product = payload.get("product") or row["datasource"]
        labels = (payload.get("alert") or {}).get("labels") or {}
        connection.execute(_alerts.update().where(_alerts.c.id == row["id"]).values(product=product, labels=labels))
        groups[(row["datasource"], product, row["day"])].append(row)
    for (datasource, product, day), members in sorted(groups.items(), key=lambda item: (item[0][2], item[0][:2])):
        statuses = {member["status"] for member in members}
        kinds = {member["kind"] for member in members}
        created = min(member["created_at"] for member in members)
        incident_id = connection.execute(
            _incidents.insert()
            .values(
                product=product,
                datasource=datasource,
                start_day=day,
                last_day=day,
                status="acknowledged" if "acknowledged" in statuses else "open",
                severity="critical" if kinds & {"check", "freshness"} else "warning",
                score=max(member["severity"] or 0.0 for member in members),
                headline=f"{product}: {len(members)} alert(s) on {day} (recorded before incidents)",
                root_cause=[],
                clean_days=0,
                created_at=created,
                updated_at=created,
            )
            .returning(_incidents.c.id)
        ).scalar_one()
        ids = [member["id"] for member in members]
        connection.execute(_alerts.update().where(_alerts.c.id.in_(ids)).values(incident_id=incident_id))
        delivered = statuses <= {"sent", "acknowledged"}
        connection.execute(
            _notifications.insert().values(
                incident_id=incident_id,
                event="opened",
                status="sent" if delivered else "pending",
                alert_ids=[],
                attempts=0,
                created_at=created,
            )
        )


def downgrade() -> None:
    # Silenced alerts were never posted; the old schema has no such state: keep them quiet.
    op.execute("UPDATE alert_states SET status = 'sent' WHERE status = 'silenced'")
    with op.batch_alter_table("alert_states", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_alert_states_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_alert_states_status"), "status IN ('pending', 'sent', 'acknowledged')"
        )
        batch_op.drop_constraint(batch_op.f("fk_alert_states_silence_id_silences"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_alert_states_incident_id_incidents"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_alert_states_incident_id"))
        batch_op.drop_column("silence_id")
        batch_op.drop_column("incident_id")
        batch_op.drop_column("rule")
        batch_op.drop_column("labels")
        batch_op.drop_column("product")

    with op.batch_alter_table("incident_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_notifications_status"))
        batch_op.drop_index(batch_op.f("ix_incident_notifications_incident_id"))

    op.drop_table("incident_notifications")
    with op.batch_alter_table("silences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_silences_ends_at"))
        batch_op.drop_index(batch_op.f("ix_silences_datasource"))

    op.drop_table("silences")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incidents_status"))
        batch_op.drop_index(batch_op.f("ix_incidents_start_day"))
        batch_op.drop_index(batch_op.f("ix_incidents_product"))
        batch_op.drop_index(batch_op.f("ix_incidents_datasource"))

    op.drop_table("incidents")
