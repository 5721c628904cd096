"""chat outbox and reminders

Revision ID: 0004_chat
Revises: 0001_core
Create Date: 2026-11-30 15:44:36.285819

outbox_message: one row per outbound chat (Slack Web API) call, sent by the outbox worker.
reminder: one row per fired reminder/escalation occurrence; the unique key makes firing
idempotent across restarts and replicas.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import bot.db

revision: str = "0004_chat"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lane", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("coalesce_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("on_result", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", _JSON, nullable=True),
        sa.Column("sent_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("lease_until", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_message_coalesce", ["coalesce_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_message_incident_id"), ["incident_id"], unique=False)
        batch_op.create_index("ix_outbox_message_open", ["status", "lane", "id"], unique=False)

    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("due_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outbox_message_id", sa.Integer(), nullable=True),
        sa.Column("page_status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("page_body", _JSON, nullable=True),
        sa.Column("page_attempts", sa.Integer(), nullable=False),
        sa.Column("page_next_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("page_error", sa.Text(), nullable=True),
        sa.Column("paged_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.create_index("ix_reminder_incident_kind", ["incident_id", "kind", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_index("ix_reminder_incident_kind")
    op.drop_table("reminder")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_open")
        batch_op.drop_index(batch_op.f("ix_outbox_message_incident_id"))
        batch_op.drop_index("ix_outbox_message_coalesce")
    op.drop_table("outbox_message")
