"""Imports every table module so SQLModel.metadata is complete (Alembic, tests).

Add a line here when a domain gets a models module.
"""

from bot.alert import models as alert_models
from bot.audit import models as audit_models
from bot.auth import models as auth_models
from bot.chat import outbox as chat_outbox
from bot.incident import models as incident_models
from bot.reminder import models as reminder_models
from bot.runbook import tables as runbook_tables
from bot.slack import models as slack_models

__all__ = [
    "alert_models",
    "audit_models",
    "auth_models",
    "chat_outbox",
    "incident_models",
    "reminder_models",
    "runbook_tables",
    "slack_models",
]
