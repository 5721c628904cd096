"""slack room: the room projector's cursor and card per incident

Revision ID: 0005_slack
Revises: 0001_core
Create Date: 2026-11-30 15:42:31.565465
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

import bot.db

revision: str = "0005_slack"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_room",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("name_attempt", sa.Integer(), nullable=False),
        sa.Column("card_ts", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("card_channel", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("created_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.PrimaryKeyConstraint("incident_id"),
    )


def downgrade() -> None:
    op.drop_table("slack_room")
