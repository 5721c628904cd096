"""The incident room: timeline events → outbox calls (channel, invites, live card, messages)."""

from __future__ import annotations

from bot.runtime import Runtime
from bot.slack.naming import check_pattern
from bot.slack.room.projector import RoomProjector
from bot.slack.room.results import RoomResults


def install_room(runtime: Runtime) -> RoomProjector:
    """Register the room's outbox hooks and its projector component (Slack or console alike)."""
    check_pattern(runtime.settings.slack.channel_name_pattern)
    RoomResults(runtime).register(runtime.chat.hooks)
    projector = RoomProjector(runtime, card_alert_refresh_s=runtime.settings.slack.card_alert_refresh_s)
    runtime.components.append(projector)
    return projector
