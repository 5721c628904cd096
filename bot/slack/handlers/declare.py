"""``/incident declare``: the modal, and its submission → ``declare_incident``.

The modal must open within 3 seconds of the command (the trigger id expires), so
``views.open`` is called directly right after the ack rather than through the outbox. The
command's response_url travels in the modal's private_metadata so the declarer gets an answer
in the channel they typed in. The declarer is a responder: the room invites them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import IntegrationError
from bot.incident import flows
from bot.incident.domain import Severity
from bot.incident.schemas import IncidentCreate
from bot.slack import blocks as bk
from bot.slack.deps import SlackDeps
from bot.slack.handlers.operations import answering_errors
from bot.slack.ids import BlockId, CallbackId, InputId
from bot.slack.middleware import actor_of
from bot.slack.replies import Reply

log = logging.getLogger(__name__)

SEVERITY_CHOICES = [
    ("SEV1: critical, customers affected broadly", "SEV1"),
    ("SEV2: major, a key model or service degraded", "SEV2"),
    ("SEV3: minor, limited impact", "SEV3"),
    ("SEV4: low, no customer impact", "SEV4"),
]


def declare_modal(title: str, *, response_url: str | None, channel_id: str | None) -> dict[str, Any]:
    metadata = json.dumps({"response_url": response_url, "channel": channel_id}, separators=(",", ":"))
    return bk.modal(
        CallbackId.DECLARE_MODAL,
        "Declare an incident",
        [
            bk.text_input(
                BlockId.DECLARE_TITLE,
                InputId.TITLE,
                "Title",
                initial=title or None,
                placeholder="Fraud model latency above 2 s",
                max_length=300,
            ),
            bk.select_input(
                BlockId.DECLARE_SEVERITY, InputId.SEVERITY, "Severity", SEVERITY_CHOICES, initial="SEV3"
            ),
            bk.text_input(
                BlockId.DECLARE_MODELS,
                InputId.MODELS,
                "Affected models",
                optional=True,
                placeholder="fraud-detector, churn-v2 (comma-separated)",
            ),
            bk.text_input(
                BlockId.DECLARE_SERVICES,
                InputId.SERVICES,
                "Affected services",
                optional=True,
                placeholder="checkout-api (comma-separated)",
            ),
            bk.text_input(
                BlockId.DECLARE_DESCRIPTION,
                InputId.DESCRIPTION,
                "Description",
                multiline=True,
                optional=True,
                max_length=3000,
            ),
        ],
        submit="Declare",
        private_metadata=metadata,
    )


async def open_declare_modal(
    client: AsyncWebClient, trigger_id: str, title: str, *, response_url: str | None, channel_id: str | None
) -> None:
    view = declare_modal(title, response_url=response_url, channel_id=channel_id)
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        error = exc.response.get("error")
        raise IntegrationError(
            f"Slack did not open the declare form: {error}",
            system="slack",
            call="views.open",
            hint="try the command again (the form must open within 3 seconds of it)",
        ) from None


def _value(values: dict[str, Any], block: BlockId, element: InputId) -> str:
    state = values.get(block.value, {}).get(element.value, {})
    if state.get("type") == "static_select":
        selected = state.get("selected_option") or {}
        return str(selected.get("value") or "")
    return str(state.get("value") or "").strip()


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def read_submission(view: dict[str, Any], declarer: str) -> IncidentCreate | dict[str, str]:
    """The IncidentCreate the form describes, or errors per block id (shown under the fields)."""
    values = view.get("state", {}).get("values", {})
    title = _value(values, BlockId.DECLARE_TITLE, InputId.TITLE)
    severity = _value(values, BlockId.DECLARE_SEVERITY, InputId.SEVERITY) or Severity.SEV3.value
    try:
        return IncidentCreate(
            title=title,
            severity=Severity(severity),
            summary=_value(values, BlockId.DECLARE_DESCRIPTION, InputId.DESCRIPTION),
            models=_names(_value(values, BlockId.DECLARE_MODELS, InputId.MODELS)),
            services=_names(_value(values, BlockId.DECLARE_SERVICES, InputId.SERVICES)),
            responders=[declarer],
        )
    except ValueError as exc:
        return _field_errors(exc)


_FIELD_BLOCKS = {
    "title": BlockId.DECLARE_TITLE,
    "severity": BlockId.DECLARE_SEVERITY,
    "summary": BlockId.DECLARE_DESCRIPTION,
    "models": BlockId.DECLARE_MODELS,
    "services": BlockId.DECLARE_SERVICES,
}


def _field_errors(exc: ValueError) -> dict[str, str]:
    if not isinstance(exc, ValidationError):
        return {BlockId.DECLARE_SEVERITY.value: str(exc)}
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else "title"
        block = _FIELD_BLOCKS.get(field, BlockId.DECLARE_TITLE)
        errors.setdefault(block.value, error["msg"])
    return errors


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.view(CallbackId.DECLARE_MODAL.value)
    async def declare_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        actor = actor_of(context)
        view = body.get("view") or {}
        data = read_submission(view, actor.id)
        if isinstance(data, dict):
            await ack(response_action="errors", errors=data)
            return
        await ack()
        try:
            metadata = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            metadata = {}
        reply = Reply(metadata.get("response_url"), what="declare")

        async def declare() -> None:
            out = await flows.declare_incident(deps.db, data, actor, authz=deps.authz)
            await reply.say(
                f":rotating_light: Declared {out.ref}: {bk.escape(out.title)} ({out.severity.value}). "
                "The incident channel is being created; you will be invited."
            )

        deps.work.spawn(answering_errors(reply, declare()), name="declare")
