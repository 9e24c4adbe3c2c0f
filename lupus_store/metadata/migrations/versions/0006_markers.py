"""markers: events of a datasource pushed through the API (model releases), drawn on its charts (issue 16)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "markers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("datasource", sa.String(length=63), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_markers")),
    )
    with op.batch_alter_table("markers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_markers_datasource"), ["datasource"], unique=False)
        batch_op.create_index(batch_op.f("ix_markers_ts"), ["ts"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("markers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_markers_ts"))
        batch_op.drop_index(batch_op.f("ix_markers_datasource"))
    op.drop_table("markers")
