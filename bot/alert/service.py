"""Apply normalized alerts to their rows: dedupe, status changes, flapping, silences, expiry time.

One row per fingerprint. The same fingerprint and status again only bumps ``count`` and
``last_seen_at`` (a redelivery). A status change is noted on the alert's incident (unless the
alert is flapping); which incident an alert feeds is decided per group in ``incidents``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.alert.clean import clean, clean_text
from bot.alert.matchers import match_labels, matches_all
from bot.alert.models import Alert, AlertGroup
from bot.alert.settings import GroupingSettings
from bot.alert.txn import AlertTxn, key_hash
from integrations.sources.model import NormalizedAlert, ParsedBatch

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


async def apply_batch(tx: AlertTxn, batch: ParsedBatch, *, inbox_id: int, received_at: datetime) -> None:
    identities = [group_identity(batch, a, tx.settings.grouping) for a in batch.alerts]
    await tx.preload({a.fingerprint for a in batch.alerts}, {key_hash(i[0]) for i in identities})
    for alert, identity in zip(batch.alerts, identities, strict=True):
        await _apply(tx, batch, alert, identity, inbox_id, received_at)


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
        group = await _group(tx, identity, batch.source)
        assert group.id is not None
        row = Alert(
            fingerprint=alert.fingerprint,
            source=batch.source,
            kind=batch.kind,
            status=alert.status,
            severity=alert.severity,
            title=clean_text(alert.title),
            group_id=group.id,
            count=1,
            first_seen_at=received_at,
            last_seen_at=received_at,
            status_changed_at=received_at,
            starts_at=alert.starts_at or (received_at if alert.status == "firing" else None),
            ends_at=(alert.ends_at or received_at) if alert.status == "resolved" else None,
        )
        _copy_fields(row, alert, batch, route, inbox_id, received_at)
        tx.session.add(row)
        tx.alerts[alert.fingerprint] = row
        tx.stored[batch.source] += 1
    else:
        row.count += 1
        row.last_seen_at = received_at
        if _stale(row, alert):
            tx.deduplicated[batch.source] += 1
            return
        group = await tx.group_by_id(row.group_id)
        acknowledged_now = alert.acknowledged and not row.acknowledged
        _copy_fields(row, alert, batch, route, inbox_id, received_at)
        if alert.status != row.status:
            await _status_change(tx, row, alert, received_at)
        else:
            tx.deduplicated[batch.source] += 1
            if alert.starts_at is not None and alert.status == "firing":
                row.starts_at = alert.starts_at
        if acknowledged_now and row.incident_id is not None:
            tx.notes.add(await tx.incident(row.incident_id), "alert_acknowledged", row)
    await _silence(tx, row, labels)
    if row.status == "firing" or row.flapping:
        tx.touch(group, row)


def _copy_fields(
    row: Alert, alert: NormalizedAlert, batch: ParsedBatch, route: str, inbox_id: int, received_at: datetime
) -> None:
    """What the latest delivery says about the alert (not its status: see _status_change)."""
    row.source = batch.source
    row.kind = batch.kind
    row.severity = alert.severity
    row.raw_severity = clean_text(alert.raw_severity[:200]) if alert.raw_severity else None
    row.title = clean_text(alert.title)
    row.description = clean_text(alert.description) if alert.description is not None else None
    row.labels = clean(alert.labels)
    row.annotations = clean(alert.annotations)
    row.links = clean([link.model_dump() for link in alert.links])
    row.raw = clean(alert.raw)
    row.route = route
    row.last_inbox_id = inbox_id
    row.acknowledged = alert.acknowledged
    firing = alert.status == "firing"
    row.expires_at = (
        received_at + timedelta(seconds=alert.expires_in_s)
        if firing and alert.expires_in_s is not None
        else None
    )


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
        if incident is not None:
            tx.notes.add(
                incident, "alert_flapping", row, changes=len(row.changes), window_s=flapping.window_s
            )
    row.status = alert.status
    row.status_changed_at = received_at
    if alert.status == "resolved":
        row.ends_at = alert.ends_at or received_at
        row.expires_at = None
        if incident is not None and not row.flapping:
            tx.notes.add(incident, "alert_resolved", row)
            tx.resolved_in.add(row.incident_id)  # type: ignore[arg-type]
    else:
        row.ends_at = None
        row.starts_at = alert.starts_at or received_at
        if not row.flapping:
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


async def _group(tx: AlertTxn, identity: tuple[str, str | None, dict[str, str]], source: str) -> AlertGroup:
    key, label_key, labels = clean_text(identity[0]), identity[1], clean(identity[2])
    label_key = clean_text(label_key) if label_key is not None else None
    digest = key_hash(key)
    group = tx.groups.get(digest)
    if group is None:
        group = AlertGroup(key_hash=digest, key=key, label_key=label_key, labels=labels, source=source)
        tx.session.add(group)
        await tx.session.flush()
        tx.groups[digest] = group
    return group
