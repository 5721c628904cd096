"""runbook runs

Revision ID: 0003_runbooks
Revises: 0001_core
Create Date: 2026-11-30 15:45:01.104963

Runs, step runs (one row per action call, phase do or undo), approvals, and the table of
held target locks whose primary key lets one active run hold a target at a time. A partial
unique index lets a routing rule auto-run a runbook at most once per incident.
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

revision: str = "0003_runbooks"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "runbook_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("runbook", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("runbook_title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("runbook_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "spec", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "inputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "secret_inputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("requested_by_label", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("approvals_required", sa.Integer(), nullable=False),
        sa.Column(
            "approvers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("four_eyes", sa.Boolean(), nullable=False),
        sa.Column("expires_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("end_reason", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
        sa.Column("ended_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("cancel_requested_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("undo_requested_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("worker", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("lease_expires_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("runbook_run", schema=None) as batch_op:
        batch_op.create_index("ix_runbook_run_incident", ["incident_id", "id"], unique=False)
        batch_op.create_index("ix_runbook_run_status", ["status"], unique=False)
        batch_op.create_index(
            "uq_runbook_run_auto",
            ["incident_id", "runbook"],
            unique=True,
            sqlite_where=sa.text("origin = 'auto'"),
            postgresql_where=sa.text("origin = 'auto'"),
        )

    op.create_table(
        "runbook_approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("approver", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("approver_label", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runbook_run.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "approver", name="uq_runbook_approval_approver"),
    )
    with op.batch_alter_table("runbook_approval", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runbook_approval_run_id"), ["run_id"], unique=False)

    op.create_table(
        "runbook_lock",
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("acquired_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runbook_run.id"],
        ),
        sa.PrimaryKeyConstraint("target"),
    )
    with op.batch_alter_table("runbook_lock", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runbook_lock_run_id"), ["run_id"], unique=False)

    op.create_table(
        "runbook_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("phase", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("step_id", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("mutating", sa.Boolean(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=True),
        sa.Column(
            "params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "planned",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "after", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=True
        ),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runbook_run.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "position", "phase", name="uq_runbook_step_position"),
    )
    with op.batch_alter_table("runbook_step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runbook_step_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runbook_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runbook_step_run_id"))

    op.drop_table("runbook_step")
    with op.batch_alter_table("runbook_lock", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runbook_lock_run_id"))

    op.drop_table("runbook_lock")
    with op.batch_alter_table("runbook_approval", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runbook_approval_run_id"))

    op.drop_table("runbook_approval")
    with op.batch_alter_table("runbook_run", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_runbook_run_auto",
            sqlite_where=sa.text("origin = 'auto'"),
            postgresql_where=sa.text("origin = 'auto'"),
        )
        batch_op.drop_index("ix_runbook_run_status")
        batch_op.drop_index("ix_runbook_run_incident")

    op.drop_table("runbook_run")
