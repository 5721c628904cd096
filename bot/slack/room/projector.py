"""The room projector: timeline events → outbox calls, with a durable cursor per incident.

Woken by ``IncidentChanged`` after each commit (and by a periodic sweep, for events committed
by other processes or missed during a restart), it reads an incident's events after its
cursor and, in ONE transaction, enqueues the calls they imply and moves the cursor. Either both
commit or neither: a crash repeats nothing and loses nothing; the dedupe keys make even a
concurrent second projector harmless.

The card is re-rendered at once for an operator's change, and at most every
``card_alert_refresh_s`` for alert traffic (a refresh due later is kept in memory and done at
its time, or when the projector stops).

Channel lines wait while the channel is being created: the cursor stops before the first
event that needs it, and the projection resumes when the channel exists, card first. Direct
messages (role checklists, approval requests) do not wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

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
#: Alert traffic: each alert batch adds these to its incidents (many a second in a storm).
ALERT_TRAFFIC = frozenset(
    {
        "alert_joined",
        "alert_refired",
        "alert_resolved",
        "alert_expired",
        "alert_acknowledged",
        "alert_silenced",
        "alert_flapping",
        "alert_flapping_stopped",
    }
)


class RoomProjector:
    """Runtime component; ``project(incident_id)`` is also called directly by tests."""

    def __init__(
        self, runtime: Runtime, *, sweep_interval_s: float = 10.0, card_alert_refresh_s: float = 0.0
    ) -> None:
        self._runtime = runtime
        self._sweep_interval = sweep_interval_s
        self._card_interval = card_alert_refresh_s
        #: When each incident's card was last rendered, and refreshes deferred (monotonic).
        self._card_at: dict[int, float] = {}
        self._card_due: dict[int, float] = {}
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
            try:  # the alert counts on the cards must not stay behind
                await self.refresh_due_cards(everything=True)
            except Exception as exc:
                log.warning("deferred card refreshes failed at shutdown: %s", exc)

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
                while self._dirty:
                    incident_id = self._dirty.pop()
                    await self.project(incident_id)
                await self.refresh_due_cards()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("room projection failed; retrying at the next sweep")
            self._wake.clear()
            timeout = self._sweep_interval
            if self._card_due:
                timeout = min(timeout, max(0.0, min(self._card_due.values()) - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def refresh_due_cards(self, *, everything: bool = False) -> None:
        """Render the cards whose deferred refresh is due (``everything``: all deferred)."""
        now = time.monotonic()
        for incident_id, due in list(self._card_due.items()):
            if everything or due <= now:
                try:
                    await self._refresh_card(incident_id)
                except Exception as exc:  # kept, and tried again an interval later
                    log.warning("refreshing the card of INC-%s failed: %s", incident_id, exc)
                    self._card_due[incident_id] = now + max(self._card_interval, 1.0)
                    if everything:
                        raise
                    continue
                self._card_due.pop(incident_id, None)

    async def _refresh_card(self, incident_id: int) -> None:
        suggested = await self._suggested_runbooks(incident_id)
        async with self._runtime.db.transaction() as session:
            incident = await service.get_incident(session, incident_id, for_update=True)
            room = await session.get(SlackRoom, incident_id)
            if room is None or room.state != RoomState.OPEN:
                return
            await self._writer(session, incident, room, suggested).update_card()
        self._card_at[incident_id] = time.monotonic()

    def _card_now(self, incident_id: int, *, alerts_only: bool) -> bool:
        """Whether to render the card now; if not, its refresh is deferred (alert traffic
        within ``card_alert_refresh_s`` of the last rendering)."""
        now = time.monotonic()
        last = self._card_at.get(incident_id)
        if not alerts_only or last is None or now - last >= self._card_interval:
            self._card_at[incident_id] = now
            self._card_due.pop(incident_id, None)  # this rendering covers a deferred one
            return True
        self._card_due.setdefault(incident_id, last + self._card_interval)
        return False

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
        suggested = await self._suggested_runbooks(incident_id)
        async with self._runtime.db.transaction() as session:
            incident = await service.get_incident(session, incident_id, for_update=True)
            room = await session.get(SlackRoom, incident_id)
            if room is None:
                room = await self._first_sight(session, incident)
            events = await timeline.list_events(session, incident_id, after_id=room.cursor, limit=BATCH)
            writer = self._writer(session, incident, room, suggested)
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
            alerts_only = True
            for event in events:
                # While the channel is being created, direct messages go out at once and channel
                # lines wait: the cursor stays before the first event that needs the channel, so
                # it is applied again once the channel exists (dedupe keys send each DM once).
                held = held or (room.state == RoomState.CREATING and needs_channel(event))
                await apply_event(writer, event)
                if changes_card(event):
                    card_dirty = True
                    alerts_only = alerts_only and event.kind in ALERT_TRAFFIC
                if not held:
                    room.cursor = event.id or room.cursor
            if (
                card_dirty
                and room.state == RoomState.OPEN
                and self._card_now(incident_id, alerts_only=alerts_only)
            ):
                await writer.update_card()
            session.add(room)
            return len(events) == BATCH and not held

    def _writer(
        self, session: AsyncSession, incident: Incident, room: SlackRoom, suggested: tuple[str, ...]
    ) -> RoomWriter:
        settings = self._runtime.settings
        return RoomWriter(
            session,
            incident,
            room,
            pattern=settings.slack.channel_name_pattern,
            public_url=settings.public_url,
            broadcast_channel=settings.slack.broadcast_channel,
            runbooks=suggested,
            people=self._runtime.authz.directory,
        )

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
