"""Alert state changes on incident timelines, coalesced: one event per incident and kind per
processing transaction, listing every alert that changed ("3 alerts joined: ...").

Only changes are noted (joined, resolved, firing again, silenced, flapping, expired...); a
redelivery of an alert in the same state writes nothing. A flapping alert's changes say so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.alert.models import Alert
from bot.auth.actor import SYSTEM
from bot.incident import timeline
from bot.incident.models import Incident

#: Timeline kind → (one alert, several alerts) phrasing.
PHRASES: dict[str, tuple[str, str]] = {
    "alert_joined": ("Alert joined", "alerts joined"),
    "alert_resolved": ("Alert resolved", "alerts resolved"),
    "alert_refired": ("Alert firing again", "alerts firing again"),
    "alert_silenced": ("Alert silenced", "alerts silenced"),
    "alert_expired": ("Alert expired (not sent again in time)", "alerts expired (not sent again in time)"),
    "alert_flapping": (
        "Alert is flapping; the incident's status no longer follows it until it calms",
        "alerts are flapping; the incident's status no longer follows them until they calm",
    ),
    "alert_flapping_stopped": ("Alert stopped flapping", "alerts stopped flapping"),
    "alert_acknowledged": ("Alert acknowledged at its source", "alerts acknowledged at their source"),
}
_TITLES_SHOWN = 5
_ALERTS_KEPT = 100


def describe(alert: Alert) -> dict[str, Any]:
    described = {
        "fingerprint": alert.fingerprint,
        "title": alert.title,
        "source": alert.source,
        "severity": alert.severity,
        "status": alert.status,
    }
    return {**described, "flapping": True} if alert.flapping else described


@dataclass
class _Note:
    incident: Incident
    kind: str
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class Notes:
    def __init__(self) -> None:
        self._notes: dict[tuple[int, str], _Note] = {}

    def add(self, incident: Incident, kind: str, alert: Alert, **extra: Any) -> None:
        assert incident.id is not None and kind in PHRASES
        note = self._notes.setdefault((incident.id, kind), _Note(incident, kind))
        note.alerts[alert.fingerprint] = describe(alert)
        note.extra.update(extra)

    def __len__(self) -> int:
        return len(self._notes)

    async def flush(self, session: AsyncSession) -> None:
        """Write one timeline event per (incident, kind), in the order they were first noted."""
        notes, self._notes = list(self._notes.values()), {}
        await timeline.record_many(
            session,
            [
                timeline.Entry(
                    note.incident,
                    note.kind,
                    _text(note),
                    SYSTEM,
                    {
                        "count": len(note.alerts),
                        "alerts": list(note.alerts.values())[:_ALERTS_KEPT],
                        **note.extra,
                    },
                )
                for note in notes
            ],
        )


def _text(note: _Note) -> str:
    one, many = PHRASES[note.kind]
    alerts = list(note.alerts.values())
    if len(alerts) == 1:
        alert = alerts[0]
        flapping = ", flapping" if alert.get("flapping") and note.kind != "alert_flapping" else ""
        return f"{one}: {alert['title']} ({alert['source']}, {alert['severity']}{flapping})"
    titles = Counter(a["title"] for a in alerts)
    shown = "; ".join(t if n == 1 else f"{t} (x{n})" for t, n in list(titles.items())[:_TITLES_SHOWN])
    hidden = sum(n for _, n in list(titles.items())[_TITLES_SHOWN:])
    more = f"; and {hidden} more" if hidden else ""
    return f"{len(alerts)} {many}: {shown}{more}"
