"""alert intake

Revision ID: 0002_alerts
Revises: 0001_core
Create Date: 2026-11-30 15:43:32.568747

The durable inbox of webhook bodies (with a partial index of pending rows, the processor's
queue), alerts (one per fingerprint), alert groups and silences.
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

revision: str = "0002_alerts"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("received_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "assigned",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("processed_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert_inbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_inbox_pending",
            ["id"],
            unique=False,
            sqlite_where=sa.text("processed_at IS NULL"),
            postgresql_where=sa.text("processed_at IS NULL"),
        )
        batch_op.create_index("ix_alert_inbox_processed_at", ["processed_at"], unique=False)

    op.create_table(
        "silence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "matchers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("starts_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expired_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expired_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("silence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_silence_ends_at"), ["ends_at"], unique=False)

    op.create_table(
        "alert_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("label_key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("route", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("storm", sa.Boolean(), nullable=False),
        sa.Column("created_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    with op.batch_alter_table("alert_group", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_group_incident_id"), ["incident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_group_label_key"), ["label_key"], unique=False)
        batch_op.create_index("ix_alert_group_opened_at", ["opened_at"], unique=False)

    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("raw_severity", sa.String(length=200), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "annotations",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "links",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("starts_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ends_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("route", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.Column("silenced_by", sa.Integer(), nullable=True),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column(
            "changes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("last_inbox_id", sa.Integer(), nullable=True),
        sa.Column(
            "raw", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["alert_group.id"],
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
        ),
        sa.ForeignKeyConstraint(
            ["silenced_by"],
            ["silence.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fingerprint"),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index("ix_alert_group_status", ["group_id", "status"], unique=False)
        batch_op.create_index("ix_alert_incident_status", ["incident_id", "status"], unique=False)
        batch_op.create_index("ix_alert_status_expires", ["status", "expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_status_expires")
        batch_op.drop_index("ix_alert_incident_status")
        batch_op.drop_index("ix_alert_group_status")

    op.drop_table("alert")
    with op.batch_alter_table("alert_group", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_group_opened_at")
        batch_op.drop_index(batch_op.f("ix_alert_group_label_key"))
        batch_op.drop_index(batch_op.f("ix_alert_group_incident_id"))

    op.drop_table("alert_group")
    with op.batch_alter_table("silence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_silence_ends_at"))

    op.drop_table("silence")
    with op.batch_alter_table("alert_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_inbox_processed_at")
        batch_op.drop_index(
            "ix_alert_inbox_pending",
            sqlite_where=sa.text("processed_at IS NULL"),
            postgresql_where=sa.text("processed_at IS NULL"),
        )

    op.drop_table("alert_inbox")
