"""the plan a run was approved on

Revision ID: 0007_run_plan
Revises: 0006_merge
Create Date: 2026-12-04 10:00:00

A run that waits for approval keeps the dry-run its approvers are asked to approve (steps,
summaries and the details of each plan), so ``runbook runs RUN-n`` and the API show it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0007_run_plan"
down_revision: str | Sequence[str] | None = "0006_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runbook_run") as batch:
        batch.add_column(
            sa.Column(
                "plan",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("runbook_run") as batch:
        batch.drop_column("plan")
