"""ingest batches, series, detection requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "ingest_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("datasource", sa.String(length=63), nullable=False),
        sa.Column("series_id", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_series")),
        sa.UniqueConstraint("datasource", "series_id", name=op.f("uq_ingest_series_datasource")),
    )
    with op.batch_alter_table("ingest_series", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_series_datasource"), ["datasource"], unique=False)

    op.create_table(
        "detection_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("datasource", sa.String(length=63), nullable=False),
        sa.Column("backend", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("backend IN ('dagster', 'local')", name=op.f("ck_detection_requests_backend")),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f("ck_detection_requests_status")
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_detection_requests_token_id_api_tokens"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detection_requests")),
    )
    with op.batch_alter_table("detection_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_detection_requests_datasource"), ["datasource"], unique=False)

    op.create_table(
        "ingest_batches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("datasource", sa.String(length=63), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('staged', 'ingested', 'failed')", name=op.f("ck_ingest_batches_status")),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_ingest_batches_token_id_api_tokens"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_batches")),
        sa.UniqueConstraint("datasource", "idempotency_key", name=op.f("uq_ingest_batches_datasource")),
    )
    with op.batch_alter_table("ingest_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_batches_datasource"), ["datasource"], unique=False)
        batch_op.create_index(batch_op.f("ix_ingest_batches_status"), ["status"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("ingest_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_batches_status"))
        batch_op.drop_index(batch_op.f("ix_ingest_batches_datasource"))

    op.drop_table("ingest_batches")
    with op.batch_alter_table("detection_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_detection_requests_datasource"))

    op.drop_table("detection_requests")
    with op.batch_alter_table("ingest_series", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_series_datasource"))

    op.drop_table("ingest_series")
