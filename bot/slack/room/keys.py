"""Outbox keys of the room: dedupe keys that also carry context for the result handlers.

Every room call gets a dedupe key made of the incident, the timeline event (or room step) that
caused it and its purpose, so projecting the same event twice (a crash before the cursor was
saved, two replicas) enqueues nothing new. Result handlers read the context back from it
(e.g. which user group an ``usergroups.list`` call was made for).
"""

from __future__ import annotations

PREFIX = "room"


def key(incident_id: int, *parts: str | int) -> str:
    return ":".join([PREFIX, str(incident_id), *(str(p) for p in parts)])


def parts(dedupe_key: str | None) -> list[str]:
    """The parts after ``room:<incident>``; empty for keys that are not the room's."""
    if not dedupe_key:
        return []
    items = dedupe_key.split(":")
    return items[2:] if len(items) > 2 and items[0] == PREFIX else []


def card_coalesce_key(incident_id: int) -> str:
    return f"{PREFIX}:{incident_id}:card"
