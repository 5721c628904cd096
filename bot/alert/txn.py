"""State shared by one processing transaction: loaded rows, touched groups, pending notes.

Processing works in three steps inside one transaction: apply every alert of the batch to its
row (``service``), evaluate each touched group once (``incidents``: join, open, reopen,
storm), then write the coalesced timeline notes and the "all alerts resolved" outcomes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.alert.matchers import Matcher
from bot.alert.models import Alert, AlertGroup, Silence
from bot.alert.notes import Notes
from bot.alert.settings import AlertSettings
from bot.incident import service as incidents
from bot.incident.models import Incident


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class GroupWork:
    """A group touched in this transaction and the alerts processed for it."""

    group: AlertGroup
    alerts: dict[str, Alert] = field(default_factory=dict)


@dataclass
class AlertTxn:
    session: AsyncSession
    settings: AlertSettings
    now: datetime
    alerts: dict[str, Alert] = field(default_factory=dict)
    groups: dict[str, AlertGroup] = field(default_factory=dict)
    incidents: dict[int, Incident] = field(default_factory=dict)
    notes: Notes = field(default_factory=Notes)
    touched: dict[int, GroupWork] = field(default_factory=dict)
    #: Fingerprints that went from resolved back to firing in this transaction.
    refired: set[str] = field(default_factory=set)
    #: Incidents that had an alert resolve: checked for "every alert resolved" at the end.
    resolved_in: set[int] = field(default_factory=set)
    stored: Counter[str] = field(default_factory=Counter)
    deduplicated: Counter[str] = field(default_factory=Counter)
    _silences: list[tuple[Silence, list[Matcher]]] | None = None

    async def incident(self, incident_id: int) -> Incident:
        """The incident, locked for this transaction (REST flows lock it the same way)."""
        incident = self.incidents.get(incident_id)
        if incident is None:
            incident = await incidents.get_incident(self.session, incident_id, for_update=True)
            self.incidents[incident_id] = incident
        return incident

    async def preload(self, fingerprints: set[str], group_hashes: set[str]) -> None:
        """Load the known alerts and groups of a batch in two queries."""
        missing = [fp for fp in fingerprints if fp not in self.alerts]
        if missing:
            rows = await self.session.exec(select(Alert).where(col(Alert.fingerprint).in_(missing)))
            self.alerts.update({row.fingerprint: row for row in rows})
        wanted = [h for h in group_hashes if h not in self.groups]
        if wanted:
            found = await self.session.exec(select(AlertGroup).where(col(AlertGroup.key_hash).in_(wanted)))
            self.groups.update({g.key_hash: g for g in found})

    async def group_by_id(self, group_id: int) -> AlertGroup:
        for group in self.groups.values():
            if group.id == group_id:
                return group
        found = await self.session.get(AlertGroup, group_id)
        assert found is not None, f"alert group {group_id} vanished"
        self.groups[found.key_hash] = found
        return found

    def touch(self, group: AlertGroup, alert: Alert | None = None) -> None:
        assert group.id is not None
        work = self.touched.setdefault(group.id, GroupWork(group))
        if alert is not None:
            work.alerts[alert.fingerprint] = alert

    async def silences(self) -> list[tuple[Silence, list[Matcher]]]:
        """Silences active now, with their parsed matchers (loaded once per transaction)."""
        if self._silences is None:
            rows = await self.session.exec(
                select(Silence).where(
                    col(Silence.expired_at).is_(None),
                    col(Silence.starts_at) <= self.now,
                    col(Silence.ends_at) > self.now,
                )
            )
            self._silences = [(s, [Matcher.parse(m) for m in s.matchers]) for s in rows]
        return self._silences
