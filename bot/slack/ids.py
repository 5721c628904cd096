"""Every Slack identifier the bot puts on the wire: action, block and callback ids.

Buttons, modals and shortcuts are matched by these exact strings (handlers register on them,
``slack-app-manifest.yaml`` names the shortcut and command), so they live in one place and a
rename cannot leave a button without a handler.
"""

from __future__ import annotations

from enum import StrEnum

#: The one slash command.
COMMAND = "/incident"


class ActionId(StrEnum):
    """``action_id`` of interactive elements (the card, runbook and approval messages)."""

    ACKNOWLEDGE = "incident.acknowledge"
    TAKE_COMMANDER = "incident.take_commander"
    RESOLVE = "incident.resolve"
    RUNBOOK_PLAN = "runbook.plan"
    RUNBOOK_RUN = "runbook.run"
    RUN_APPROVE = "runbook.approve"
    RUN_DENY = "runbook.deny"


class BlockId(StrEnum):
    """``block_id`` of blocks the bot reads back (modal inputs) or finds again (card parts)."""

    CARD_HEADER = "card.header"
    CARD_FIELDS = "card.fields"
    CARD_ROLES = "card.roles"
    CARD_ALERTS = "card.alerts"
    CARD_RUNBOOKS = "card.runbooks"
    CARD_ACTIONS = "card.actions"
    APPROVAL_ACTIONS = "approval.actions"
    #: Plan/Run buttons in answers: ``suggested.runbooks.<n>`` and after a dry run.
    SUGGESTED_RUNBOOKS = "suggested.runbooks"
    PLAN_ACTIONS = "plan.actions"
    DECLARE_TITLE = "declare.title"
    DECLARE_SEVERITY = "declare.severity"
    DECLARE_MODELS = "declare.models"
    DECLARE_SERVICES = "declare.services"
    DECLARE_DESCRIPTION = "declare.description"


class InputId(StrEnum):
    """``action_id`` of modal input elements (read from ``view.state.values``)."""

    TITLE = "declare.title.value"
    SEVERITY = "declare.severity.value"
    MODELS = "declare.models.value"
    SERVICES = "declare.services.value"
    DESCRIPTION = "declare.description.value"


class CallbackId(StrEnum):
    """``callback_id`` of modals and shortcuts."""

    DECLARE_MODAL = "incident.declare"
    ADD_TO_TIMELINE = "incident.add_to_timeline"


#: ``data.source`` of timeline notes captured from Slack messages (they are in the channel already).
CAPTURED_MESSAGE_SOURCE = "slack_message"
