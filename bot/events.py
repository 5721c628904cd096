"""In-process notification of committed incident changes.

The timeline is the durable event log; this bus only wakes up consumers (chat cards, the
outbox, reminders) right after a commit so they need not poll. A consumer that misses a
wake-up (restart) catches up from the timeline rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncidentChanged:
    incident_id: int
    event_id: int
    kind: str


@dataclass(frozen=True)
class AutoRunRequested:
    """A routing rule asks for a runbook to start on an incident (published after commit)."""

    incident_id: int
    runbook: str
    inputs: dict[str, str]
    rule: str
    #: The incident was reopened by its alerts (it ran once already, most likely).
    reopened: bool = False


Event = IncidentChanged | AutoRunRequested
Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, items: list[object]) -> None:
        for item in items:
            if not isinstance(item, IncidentChanged | AutoRunRequested):
                continue
            for subscriber in self._subscribers:
                try:
                    subscriber(item)
                except Exception:  # a broken consumer must not fail the request that committed
                    log.exception("event subscriber failed on %s", item)
