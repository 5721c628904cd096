"""State shared by one processing transaction: loaded rows, touched groups, pending notes.

Processing works in three steps inside one transaction: apply every alert of the batch to its
row (``service``), evaluate each touched group once (``incidents``: join, open, reopen,
storm), then write the coalesced timeline notes and the "all alerts resolved" outcomes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.alert.matchers import Matcher
from bot.alert.models import Alert, AlertGroup, Silence
from bot.alert.notes import Notes
from bot.alert.settings import AlertSettings
from bot.incident import service as incidents
from bot.incident.models import Incident

T = TypeVar("T")
_ALERT_COLUMNS = [c.name for c in Alert.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]

#: Values per IN (...) list: well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500


def _chunks(values: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class GroupWork:
    """A group touched in this transaction and the alerts processed for it."""

    group: AlertGroup
    alerts: dict[str, Alert] = field(default_factory=dict)
    #: Alerts first seen in this transaction: kept out of the ORM session and inserted
    #: together, already attached to their incident, by ``insert_new_alerts``.
    new_alerts: dict[str, Alert] = field(default_factory=dict)


@dataclass
class AlertTxn:
    session: AsyncSession
    settings: AlertSettings
    now: datetime
    alerts: dict[str, Alert] = field(default_factory=dict)
    #: Alerts first seen in this transaction: kept out of the ORM session and inserted
    #: together, already attached to their incident, by ``insert_new_alerts``.
    new_alerts: dict[str, Alert] = field(default_factory=dict)
    groups: dict[str, AlertGroup] = field(default_factory=dict)
    groups_by_id: dict[int, AlertGroup] = field(default_factory=dict)
    incidents: dict[int, Incident] = field(default_factory=dict)
    notes: Notes = field(default_factory=Notes)
    touched: dict[int, GroupWork] = field(default_factory=dict)
    #: Fingerprints that went from resolved back to firing in this transaction.
    refired: set[str] = field(default_factory=set)
    #: Alerts that started flapping in this transaction: noted once the groups are evaluated,
    #: on the incident that holds them then (a firing may have opened a new one).
    flapped: dict[str, Alert] = field(default_factory=dict)
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

    async def lock_incidents(self, incident_ids: set[int]) -> None:
        """Lock (and load) several incidents in one query."""
        wanted = sorted(i for i in incident_ids if i not in self.incidents)
        for chunk in _chunks(wanted):
            rows = await self.session.exec(
                select(Incident)
                .where(col(Incident.id).in_(chunk))
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            for incident in rows:
                assert incident.id is not None
                self.incidents[incident.id] = incident

    async def preload(self, fingerprints: set[str], group_hashes: set[str]) -> None:
        """Load the known alerts of a batch and all the groups it needs, a few queries in all."""
        missing = sorted(fp for fp in fingerprints if fp not in self.alerts)
        for chunk in _chunks(missing):
            rows = await self.session.exec(select(Alert).where(col(Alert.fingerprint).in_(chunk)))
            self.alerts.update({row.fingerprint: row for row in rows})
        group_ids = {a.group_id for a in self.alerts.values()} - set(self.groups_by_id)
        for id_chunk in _chunks(sorted(group_ids)):
            self._add_groups(
                await self.session.exec(select(AlertGroup).where(col(AlertGroup.id).in_(id_chunk)))
            )
        wanted = sorted(h for h in group_hashes if h not in self.groups)
        for chunk in _chunks(wanted):
            self._add_groups(
                await self.session.exec(select(AlertGroup).where(col(AlertGroup.key_hash).in_(chunk)))
            )

    async def insert_new_alerts(self) -> None:
        """One INSERT (executemany) for every alert first seen in this transaction."""
        if not self.new_alerts:
            return
        rows = [{name: getattr(alert, name) for name in _ALERT_COLUMNS} for alert in self.new_alerts.values()]
        await (await self.session.connection()).execute(insert(Alert), rows)
        self.new_alerts.clear()

    def _add_groups(self, groups: Iterable[AlertGroup]) -> None:
        for group in groups:
            assert group.id is not None
            self.groups[group.key_hash] = group
            self.groups_by_id[group.id] = group

    async def group_by_id(self, group_id: int) -> AlertGroup:
        group = self.groups_by_id.get(group_id)
        if group is None:
            found = await self.session.get(AlertGroup, group_id)
            assert found is not None, f"alert group {group_id} vanished"
            self._add_groups([found])
            group = found
        return group

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
