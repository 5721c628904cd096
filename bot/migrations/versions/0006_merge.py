"""Join the domain branches (alerts, runbooks, chat, slack) into one history.

Revision ID: 0006_merge
Revises: 0002_alerts, 0003_runbooks, 0004_chat, 0005_slack
Create Date: 2026-11-30 17:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006_merge"
down_revision: str | Sequence[str] | None = ("0002_alerts", "0003_runbooks", "0004_chat", "0005_slack")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this revision only merges the heads."""


def downgrade() -> None:
    """Nothing to change: this revision only merges the heads."""
