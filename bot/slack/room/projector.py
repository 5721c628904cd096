"""The room projector: timeline events → outbox calls, with a durable cursor per incident.

Woken by ``IncidentChanged`` after each commit (and by a periodic sweep, for events committed
by other processes or missed during a restart), it reads an incident's events after its
cursor and, in ONE transaction, enqueues the calls they imply and moves the cursor. Either both
commit or neither: a crash repeats nothing and loses nothing; the dedupe keys make even a
concurrent second projector harmless.

Channel lines wait while the channel is being created: the cursor stops before the first
event that needs it, and the projection resumes when the channel exists, card first. Direct
messages (role checklists, approval requests) do not wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.errors import IncidentBotError
from bot.events import Event, IncidentChanged
from bot.incident import service, timeline
from bot.incident.domain import OPEN_STATUSES, Status, format_ref
from bot.incident.models import Incident, TimelineEvent
from bot.runbook import flows as runbook_flows
from bot.runtime import Runtime
from bot.slack.models import RoomState, SlackRoom
from bot.slack.room.events import apply_event, needs_channel
from bot.slack.room.messages import changes_card
from bot.slack.room.writer import RoomWriter

log = logging.getLogger(__name__)

BATCH = 200
#: The sweep also looks this far below the last seen event id, for transactions that took an
#: id before the previous sweep and committed after it.
SWEEP_MARGIN = 1000


class RoomProjector:
    """Runtime component; ``project(incident_id)`` is also called directly by tests."""

    def __init__(self, runtime: Runtime, *, sweep_interval_s: float = 10.0) -> None:
        self._runtime = runtime
        self._sweep_interval = sweep_interval_s
        self._dirty: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._swept_to = 0
        runtime.bus.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, IncidentChanged):
            self._dirty.add(event.incident_id)
            self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="slack room projector")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
                while self._dirty:
                    incident_id = self._dirty.pop()
                    await self.project(incident_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("room projection failed; retrying at the next sweep")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._sweep_interval)

    async def sweep(self) -> None:
        """Mark every incident with events after its room cursor as dirty."""
        since = max(self._swept_to - SWEEP_MARGIN, 0)
        async with self._runtime.db.session() as session:
            behind = (
                select(TimelineEvent.incident_id, func.max(TimelineEvent.id))
                .outerjoin(SlackRoom, col(SlackRoom.incident_id) == col(TimelineEvent.incident_id))
                .where(col(TimelineEvent.id) > since)
                .where(col(TimelineEvent.id) > func.coalesce(col(SlackRoom.cursor), 0))
                .group_by(col(TimelineEvent.incident_id))
            )
            rows = (await session.exec(behind)).all()
        for incident_id, last in rows:
            self._dirty.add(incident_id)
            self._swept_to = max(self._swept_to, int(last or 0))

    async def project(self, incident_id: int) -> None:
        """Project every event after the cursor (in batches, one transaction each)."""
        while await self._project_batch(incident_id):
            pass

    async def _project_batch(self, incident_id: int) -> bool:
        """One batch; True when there may be more to do right away."""
        settings = self._runtime.settings
        suggested = await self._suggested_runbooks(incident_id)
        async with self._runtime.db.transaction() as session:
            incident = await service.get_incident(session, incident_id, for_update=True)
            room = await session.get(SlackRoom, incident_id)
            if room is None:
                room = await self._first_sight(session, incident)
            events = await timeline.list_events(session, incident_id, after_id=room.cursor, limit=BATCH)
            writer = RoomWriter(
                session,
                incident,
                room,
                pattern=settings.slack.channel_name_pattern,
                public_url=settings.public_url,
                broadcast_channel=settings.slack.broadcast_channel,
                runbooks=suggested,
            )
            if room.state == RoomState.SKIPPED and Status(incident.status) in OPEN_STATUSES:
                await writer.create_channel()  # reopened after the room was skipped
                room.state = RoomState.CREATING
            if room.state == RoomState.CREATING and incident.chat_channel_id:
                await writer.open_room(await _people(session, incident))
                room.state = RoomState.OPEN
            if room.state == RoomState.SKIPPED:
                room.cursor = events[-1].id if events and events[-1].id else room.cursor
                events = []
            card_dirty = held = False
            for event in events:
                # While the channel is being created, direct messages go out at once and channel
                # lines wait: the cursor stays before the first event that needs the channel, so
                # it is applied again once the channel exists (dedupe keys send each DM once).
                held = held or (room.state == RoomState.CREATING and needs_channel(event))
                await apply_event(writer, event)
                card_dirty = card_dirty or changes_card(event)
                if not held:
                    room.cursor = event.id or room.cursor
            if card_dirty and room.state == RoomState.OPEN:
                await writer.update_card()
            session.add(room)
            return len(events) == BATCH and not held

    async def _suggested_runbooks(self, incident_id: int) -> tuple[str, ...]:
        """The engine's suggestions for the card, read before the transaction (it loads files)."""
        try:
            found = await runbook_flows.suggested_for(self._runtime, format_ref(incident_id))
        except IncidentBotError as exc:
            log.warning("no runbook suggestions for INC-%s on its card: %s", incident_id, exc)
            return ()
        return tuple(s.name for s in found)

    async def _first_sight(self, session: AsyncSession, incident: Incident) -> SlackRoom:
        """A room for an open incident (create its channel); none for one already over."""
        assert incident.id is not None
        room = SlackRoom(incident_id=incident.id)
        session.add(room)
        if incident.chat_channel_id:
            return room  # linked to a channel already: open it (invites, card)
        if Status(incident.status) not in OPEN_STATUSES:
            room.state = RoomState.SKIPPED
            return room
        await RoomWriter(
            session,
            incident,
            room,
            pattern=self._runtime.settings.slack.channel_name_pattern,
            public_url=self._runtime.settings.public_url,
            broadcast_channel=None,
        ).create_channel()
        return room


async def _people(session: AsyncSession, incident: Incident) -> list[str]:
    """Who to invite when the room opens: the routing rule's responders and role holders."""
    assert incident.id is not None
    roles = await service.current_roles(session, incident.id)
    return [*incident.responders, *(holder.assignee for holder in roles.values())]
