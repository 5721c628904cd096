"""The incident room's own state: one row per incident the room projector has seen.

The timeline is the event log; this row is the projector's durable cursor (the last timeline
event turned into chat calls) plus what the chat side told us (card message ts). Committed in
the same transaction as the outbox rows it produced, so a restart neither repeats nor misses.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from bot.db import UTCDateTime, utcnow


class RoomState(StrEnum):
    #: The channel is being created (conversations.create queued or retrying a taken name).
    CREATING = "creating"
    #: Channel exists; invites, card and announcement are queued.
    OPEN = "open"
    #: Slack refused the channel for good (see the timeline's chat_error); DMs still work.
    FAILED = "failed"
    #: The incident was already over when the projector first saw it: no room.
    SKIPPED = "skipped"


class SlackRoom(SQLModel, table=True):
    __tablename__ = "slack_room"

    incident_id: int = Field(foreign_key="incident.id", primary_key=True)
    state: str = Field(default=RoomState.CREATING.value, max_length=20)
    #: Id of the last timeline event projected into chat calls.
    cursor: int = Field(default=0, nullable=False)
    #: conversations.create attempts so far (the name suffix after name_taken).
    name_attempt: int = Field(default=0, nullable=False)
    #: ts of the pinned incident card message, once chat.postMessage answered.
    card_ts: str | None = Field(default=None, max_length=40)
    card_channel: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
