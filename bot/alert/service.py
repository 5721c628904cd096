"""Apply normalized alerts to their rows: dedupe, status changes, flapping, silences, expiry time.

One row per fingerprint. The same fingerprint and status again only bumps ``count`` and
``last_seen_at`` (a redelivery). A status change is noted on the alert's incident, a flapping
alert's too (marked as such): what flapping stops is the incident's status following it (no
mitigated → investigating → mitigated bouncing) until it calms. Which incident an alert feeds
is decided per group in ``incidents``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.alert.clean import clean, clean_text
from bot.alert.matchers import match_labels, matches_all
from bot.alert.models import Alert, AlertGroup
from bot.alert.settings import GroupingSettings
from bot.alert.txn import AlertTxn, key_hash
from integrations.sources.model import NormalizedAlert, ParsedBatch

#: ``expires_in_s`` above this (ten years) means "never expires".
MAX_EXPIRY_S = 10 * 365 * 24 * 3600
#: Sender group keys that gather several alerts into one notification.
SENDER_GROUP_KINDS = frozenset({"alertmanager", "grafana", "generic"})


def group_identity(
    batch: ParsedBatch, alert: NormalizedAlert, grouping: GroupingSettings
) -> tuple[str, str | None, dict[str, str]]:
    """(group key, label key, group labels) of an alert.

    The sender's own group (Alertmanager/Grafana ``groupKey``, a generic mapping's
    ``group_key``) when configured; else the first ``group_by`` label the alert has
    (``model=fraud-detector``); else the alert alone. The label key also lets separate groups
    about the same model join one open incident.
    """
    label_key = None
    label_labels: dict[str, str] = {}
    for name in grouping.group_by:
        value = alert.labels.get(name)
        if value:
            label_key, label_labels = f"{name}={value}"[:300], {name: value}
            break
    sender_key = alert.group_key or (batch.group_key if batch.kind != "pagerduty" else None)
    if grouping.sender_groups and batch.kind in SENDER_GROUP_KINDS and sender_key:
        return f"{batch.kind}:{sender_key}", label_key, dict(batch.group_labels) or label_labels
    if label_key is not None:
        return f"label:{label_key}", label_key, label_labels
    return f"alert:{alert.fingerprint}", None, {}


@dataclass(frozen=True)
class Received:
    """One processed inbox row: its alerts, its id and when it was received."""

    batch: ParsedBatch
    inbox_id: int
    received_at: datetime


async def apply_batches(tx: AlertTxn, rows: list[Received]) -> None:
    """Apply the alerts of several inbox rows, in order, with a handful of queries in all:
    known alerts, groups and silences are loaded once, new groups created in one flush, and
    nothing is flushed while applying (the settle step flushes once)."""
    work = [
        (row, alert, group_identity(row.batch, alert, tx.settings.grouping))
        for row in rows
        for alert in row.batch.alerts
    ]
    with tx.session.no_autoflush:
        await tx.preload(
            {a.fingerprint for _, a, _ in work}, {key_hash(clean_text(i[0])) for _, _, i in work}
        )
        await tx.silences()
        await _create_groups(tx, [(alert, identity, row.batch.source) for row, alert, identity in work])
        for n, (row, alert, identity) in enumerate(work, 1):
            await _apply(tx, row.batch, alert, identity, row.inbox_id, row.received_at)
            if n % 25 == 0:
                await asyncio.sleep(0)  # let webhook requests in between


async def apply_batch(tx: AlertTxn, batch: ParsedBatch, *, inbox_id: int, received_at: datetime) -> None:
    await apply_batches(tx, [Received(batch, inbox_id, received_at)])


async def _create_groups(
    tx: AlertTxn, items: list[tuple[NormalizedAlert, tuple[str, str | None, dict[str, str]], str]]
) -> None:
    """The groups of alerts never seen before, created together (one flush gives their ids)."""
    created = []
    for alert, identity, source in items:
        if alert.fingerprint in tx.alerts:
            continue
        key = clean_text(identity[0])
        digest = key_hash(key)
        if digest not in tx.groups:
            label_key = clean_text(identity[1]) if identity[1] is not None else None
            group = AlertGroup(
                key_hash=digest, key=key, label_key=label_key, labels=clean(identity[2]), source=source
            )
            tx.session.add(group)
            tx.groups[digest] = group
            created.append(group)
    if created:
        await tx.session.flush()
        for group in created:
            assert group.id is not None
            tx.groups_by_id[group.id] = group


async def _apply(
    tx: AlertTxn,
    batch: ParsedBatch,
    alert: NormalizedAlert,
    identity: tuple[str, str | None, dict[str, str]],
    inbox_id: int,
    received_at: datetime,
) -> None:
    labels = match_labels(alert.labels, source=batch.source, kind=batch.kind, severity=alert.severity)
    route = tx.settings.route_for(labels).name
    row = tx.alerts.get(alert.fingerprint)
    if row is None:
        group = tx.groups[key_hash(clean_text(identity[0]))]
        assert group.id is not None
        firing = alert.status == "firing"
        row = Alert(
            fingerprint=alert.fingerprint,
            status=alert.status,
            group_id=group.id,
            incident_id=None,
            count=1,
            first_seen_at=received_at,
            last_seen_at=received_at,
            status_changed_at=received_at,
            starts_at=alert.starts_at or (received_at if firing else None),
            ends_at=None if firing else (alert.ends_at or received_at),
            silenced_by=None,
            flapping=False,
            changes=[],
            **_latest(alert, batch, route, inbox_id, received_at),
        )
        tx.alerts[alert.fingerprint] = tx.new_alerts[alert.fingerprint] = row
        tx.stored[batch.source] += 1
    else:
        row.count += 1
        row.last_seen_at = received_at
        row.last_inbox_id = inbox_id
        if _stale(row, alert):
            tx.deduplicated[batch.source] += 1
            return
        group = await tx.group_by_id(row.group_id)
        acknowledged_now = alert.acknowledged and not row.acknowledged
        for name, value in _latest(alert, batch, route, inbox_id, received_at).items():
            if getattr(row, name) != value:  # unchanged fields stay clean: no UPDATE for them
                setattr(row, name, value)
        if alert.status != row.status:
            await _status_change(tx, row, alert, received_at)
        else:
            tx.deduplicated[batch.source] += 1
            if alert.starts_at is not None and alert.status == "firing" and row.starts_at != alert.starts_at:
                row.starts_at = alert.starts_at
        if acknowledged_now and row.incident_id is not None:
            tx.notes.add(await tx.incident(row.incident_id), "alert_acknowledged", row)
    await _silence(tx, row, labels)
    if row.status == "firing" or row.flapping:
        tx.touch(group, row)


def _latest(
    alert: NormalizedAlert, batch: ParsedBatch, route: str, inbox_id: int, received_at: datetime
) -> dict[str, Any]:
    """What the latest delivery says about the alert (its status is handled apart)."""
    # Longer than any alert lives (and than datetime can add): the same as never expiring.
    expires = (
        alert.expires_in_s is not None and alert.status == "firing" and alert.expires_in_s <= MAX_EXPIRY_S
    )
    return {
        "source": batch.source,
        "kind": batch.kind,
        "severity": alert.severity,
        "raw_severity": clean_text(alert.raw_severity[:200]) if alert.raw_severity else None,
        "title": clean_text(alert.title),
        "description": clean_text(alert.description) if alert.description is not None else None,
        "labels": clean(alert.labels),
        "annotations": clean(alert.annotations),
        "links": clean([link.model_dump() for link in alert.links]),
        "raw": clean(alert.raw),
        "route": route,
        "last_inbox_id": inbox_id,
        "acknowledged": alert.acknowledged,
        "expires_at": received_at + timedelta(seconds=alert.expires_in_s or 0) if expires else None,
    }


def _stale(row: Alert, alert: NormalizedAlert) -> bool:
    """A retried notification older than what the row already knows (same episode's firing
    after its resolve, or a resolve of an earlier episode): counted, otherwise ignored."""
    if alert.starts_at is None or row.starts_at is None:
        return False
    if alert.status == "firing" and row.status == "resolved":
        return alert.starts_at == row.starts_at
    if alert.status == "resolved" and row.status == "firing":
        return alert.starts_at < row.starts_at
    return False


async def _status_change(tx: AlertTxn, row: Alert, alert: NormalizedAlert, received_at: datetime) -> None:
    flapping = tx.settings.flapping
    horizon = received_at - timedelta(seconds=flapping.window_s)
    row.changes = [c for c in row.changes if datetime.fromisoformat(c) > horizon] + [received_at.isoformat()]
    incident = await tx.incident(row.incident_id) if row.incident_id is not None else None
    if not row.flapping and len(row.changes) > flapping.max_changes:
        row.flapping = True
        tx.flapped[row.fingerprint] = row
    row.status = alert.status
    row.status_changed_at = received_at
    if alert.status == "resolved":
        row.ends_at = alert.ends_at or received_at
        row.expires_at = None
        if incident is not None:
            tx.notes.add(incident, "alert_resolved", row)
            if not row.flapping:
                tx.resolved_in.add(incident.id)  # type: ignore[arg-type]
    else:
        row.ends_at = None
        row.starts_at = alert.starts_at or received_at
        tx.refired.add(row.fingerprint)


async def _silence(tx: AlertTxn, row: Alert, labels: dict[str, str]) -> None:
    """Mark a firing alert silenced (stored, opens nothing) or lift an ended silence."""
    if row.status != "firing":
        return
    for silence, matchers in await tx.silences():
        if matches_all(matchers, labels):
            if row.silenced_by != silence.id:
                row.silenced_by = silence.id
                if row.incident_id is not None:
                    tx.notes.add(
                        await tx.incident(row.incident_id), "alert_silenced", row, silence=silence.id
                    )
            return
    row.silenced_by = None
