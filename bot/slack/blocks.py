"""Typed Block Kit builders: the only place that knows Block Kit's JSON shapes.

Messages and modals are built from these small functions (``section``, ``button``...), so
limits (text lengths, element counts) and escaping are applied once. Text that comes from
people or alerts goes through ``escape`` before it lands in mrkdwn: a title must not be able
to ``<!channel>`` the workspace.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from bot.slack.ids import ActionId, BlockId, CallbackId, InputId

Block = dict[str, Any]
Element = dict[str, Any]
ButtonStyle = Literal["primary", "danger"]

# Limits from the Block Kit reference.
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_MAX = 2000
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
MESSAGE_TEXT_MAX = 4000
MODAL_TITLE_MAX = 24
MAX_BLOCKS_PER_MESSAGE = 50

_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
_GROUP = re.compile(r"^(@[a-z0-9._-]+|S[A-Z0-9]{2,})$")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Escape the three characters Slack treats as markup in mrkdwn and plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def is_user_id(value: str) -> bool:
    return bool(_USER_ID.match(value))


def is_group(value: str) -> bool:
    """A user group: ``@handle`` or its id ``S0123``."""
    return bool(_GROUP.match(value))


def mention(person: str) -> str:
    """``<@U123>`` for a Slack user id; anything else (a name, an email) escaped as text."""
    return f"<@{person}>" if is_user_id(person) else escape(person)


def channel_link(channel_id: str) -> str:
    return f"<#{channel_id}>"


def link(url: str, label: str) -> str:
    return f"<{url}|{escape(label)}>"


def plain(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": True}


def mrkdwn(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(text, limit)}


def header(text: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "header", "text": plain(text, HEADER_MAX)}
    if block_id:
        block["block_id"] = block_id
    return block


def section(
    text: str | None = None,
    *,
    fields: list[str] | None = None,
    block_id: str | None = None,
    accessory: Element | None = None,
) -> Block:
    block: Block = {"type": "section"}
    if text is not None:
        block["text"] = mrkdwn(text)
    if fields:
        block["fields"] = [mrkdwn(f, FIELD_MAX) for f in fields[:10]]
    if block_id:
        block["block_id"] = block_id
    if accessory is not None:
        block["accessory"] = accessory
    return block


def context(*texts: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "context", "elements": [mrkdwn(t) for t in texts[:10]]}
    if block_id:
        block["block_id"] = block_id
    return block


def divider() -> Block:
    return {"type": "divider"}


def confirm(title: str, text: str, *, ok: str = "Yes", cancel: str = "Cancel") -> dict[str, Any]:
    """A confirmation dialog shown before a button's action is sent (e.g. running a runbook)."""
    return {
        "title": plain(title, 100),
        "text": mrkdwn(text, 300),
        "confirm": plain(ok, 30),
        "deny": plain(cancel, 30),
        "style": "danger",
    }


def button(
    text: str,
    action_id: ActionId,
    value: str,
    *,
    style: ButtonStyle | None = None,
    confirmation: dict[str, Any] | None = None,
) -> Element:
    if len(value) > BUTTON_VALUE_MAX:
        raise ValueError(f"button value of {action_id} is longer than {BUTTON_VALUE_MAX} characters")
    element: Element = {
        "type": "button",
        "text": plain(text, BUTTON_TEXT_MAX),
        "action_id": action_id.value,
        "value": value,
    }
    if style:
        element["style"] = style
    if confirmation:
        element["confirm"] = confirmation
    return element


def actions(block_id: str, *elements: Element) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)[:25]}


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text, 75), "value": value}


def text_input(
    block_id: BlockId,
    action_id: InputId,
    label: str,
    *,
    multiline: bool = False,
    optional: bool = False,
    initial: str | None = None,
    placeholder: str | None = None,
    max_length: int | None = None,
) -> Block:
    element: Element = {"type": "plain_text_input", "action_id": action_id.value, "multiline": multiline}
    if initial:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = plain(placeholder, 150)
    if max_length:
        element["max_length"] = max_length
    return {
        "type": "input",
        "block_id": block_id.value,
        "label": plain(label, 2000),
        "element": element,
        "optional": optional,
    }


def select_input(
    block_id: BlockId,
    action_id: InputId,
    label: str,
    options: list[tuple[str, str]],
    *,
    initial: str | None = None,
) -> Block:
    choices = [option(text, value) for text, value in options]
    element: Element = {"type": "static_select", "action_id": action_id.value, "options": choices}
    for choice in choices:
        if choice["value"] == initial:
            element["initial_option"] = choice
    return {"type": "input", "block_id": block_id.value, "label": plain(label, 2000), "element": element}


def modal(
    callback_id: CallbackId,
    title: str,
    blocks: list[Block],
    *,
    submit: str,
    private_metadata: str = "",
) -> dict[str, Any]:
    if len(private_metadata) > 3000:
        raise ValueError("a modal's private_metadata holds at most 3000 characters")
    return {
        "type": "modal",
        "callback_id": callback_id.value,
        "title": plain(title, MODAL_TITLE_MAX),
        "submit": plain(submit, MODAL_TITLE_MAX),
        "close": plain("Cancel", MODAL_TITLE_MAX),
        "private_metadata": private_metadata,
        "blocks": blocks,
    }


def message(text: str, blocks: list[Block] | None = None) -> dict[str, Any]:
    """Arguments of a message: ``text`` is the notification and screen-reader fallback."""
    body: dict[str, Any] = {"text": truncate(text, MESSAGE_TEXT_MAX)}
    if blocks:
        body["blocks"] = blocks[:MAX_BLOCKS_PER_MESSAGE]
    return body
