"""authorization: unique token names, principals on the timeline, approvals of undos

Revision ID: 0008_authz
Revises: 0007_run_plan
Create Date: 2026-12-07 10:00:00

- ``api_token``: one *active* token per name (a partial unique index; a revoked token's name may
  be used again). Active duplicates that exist already keep working: the oldest keeps the name,
  each later one is renamed ``<name>-<id>`` (so revoking by name now revokes exactly one token,
  and a name a person lists under ``people[].tokens`` binds exactly one).
- ``timeline_event.actor_id``: the stable principal id next to the display label (NULL on
  earlier events).
- ``runbook_run.undo_requester`` / ``undo_from``: an undo that waits for approval, and the
  status the run returns to if it is not given.
- ``runbook_approval.phase``: approvals of a run (``do``) and of its undo (``undo``) are
  separate; one decision per person and phase.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0008_authz"
down_revision: str | Sequence[str] | None = "0007_run_plan"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = "revoked_at IS NULL"


def _rename_duplicate_tokens() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, name FROM api_token WHERE revoked_at IS NULL ORDER BY name, id")
    ).all()
    seen: set[str] = set()
    for token_id, name in rows:
        if name in seen:
            renamed = f"{name[: 100 - len(str(token_id)) - 1]}-{token_id}"
            conn.execute(
                sa.text("UPDATE api_token SET name = :n WHERE id = :i"), {"n": renamed, "i": token_id}
            )
        seen.add(name)


def upgrade() -> None:
    _rename_duplicate_tokens()
    op.create_index(
        "uq_api_token_active_name",
        "api_token",
        ["name"],
        unique=True,
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )
    # A new nullable column: allowed by the timeline's append-only triggers (they refuse
    # UPDATE and DELETE of rows, not a change of the table).
    op.add_column(
        "timeline_event", sa.Column("actor_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
    )
    op.add_column(
        "runbook_run",
        sa.Column("undo_requester", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    )
    op.add_column(
        "runbook_run", sa.Column("undo_from", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True)
    )
    with op.batch_alter_table("runbook_approval", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "phase", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False, server_default="do"
            )
        )
        batch_op.drop_constraint("uq_runbook_approval_approver", type_="unique")
        batch_op.create_unique_constraint("uq_runbook_approval_approver", ["run_id", "phase", "approver"])


def downgrade() -> None:
    with op.batch_alter_table("runbook_approval", schema=None) as batch_op:
        batch_op.drop_constraint("uq_runbook_approval_approver", type_="unique")
        batch_op.execute("DELETE FROM runbook_approval WHERE phase = 'undo'")
        batch_op.create_unique_constraint("uq_runbook_approval_approver", ["run_id", "approver"])
        batch_op.drop_column("phase")
    with op.batch_alter_table("runbook_run", schema=None) as batch_op:
        batch_op.drop_column("undo_from")
        batch_op.drop_column("undo_requester")
    op.drop_column("timeline_event", "actor_id")
    op.drop_index("uq_api_token_active_name", table_name="api_token")
