"""Time-driven alert changes, run periodically by the processor in its own transaction.

- expiry: a firing alert with ``expires_at`` in the past resolves itself (senders that never
  send "resolved", e.g. ML monitors with ``expires_in_s``);
- flapping: an alert with no status change for a whole window stops flapping, and its current
  status counts again;
- silences that ended (or were expired) release their alerts, which may then open incidents;
- groups waiting for ``min_duration_s`` open their incident when the time has come;
- processed inbox rows older than the retention are deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col, select

from bot.alert.incidents import settle
from bot.alert.models import Alert, AlertInbox, Silence
from bot.alert.txn import AlertTxn
from bot.incident.domain import OPEN_STATUSES
from bot.incident.models import Incident

#: Rows handled per sweep and kind; the next sweep continues.
LIMIT = 500


async def sweep(tx: AlertTxn) -> None:
    await _expire(tx)
    await _calm_flapping(tx)
    await _release_silenced(tx)
    await _pending_groups(tx)
    await settle(tx)
    await _purge_inbox(tx)


async def _expire(tx: AlertTxn) -> None:
    rows = await tx.session.exec(
        select(Alert)
        .where(Alert.status == "firing", col(Alert.expires_at).is_not(None), col(Alert.expires_at) <= tx.now)
        .order_by(col(Alert.expires_at))
        .limit(LIMIT)
    )
    for alert in rows:
        assert alert.expires_at is not None
        alert.status = "resolved"
        alert.ends_at = alert.expires_at
        alert.status_changed_at = tx.now
        alert.expires_at = None
        alert.changes = [*alert.changes, tx.now.isoformat()]
        if alert.incident_id is not None:
            tx.notes.add(await tx.incident(alert.incident_id), "alert_expired", alert)
            if not alert.flapping:
                tx.resolved_in.add(alert.incident_id)


async def _calm_flapping(tx: AlertTxn) -> None:
    horizon = tx.now - timedelta(seconds=tx.settings.flapping.window_s)
    rows = await tx.session.exec(select(Alert).where(col(Alert.flapping).is_(True)).limit(LIMIT))
    for alert in rows:
        last = max((datetime.fromisoformat(c) for c in alert.changes), default=alert.status_changed_at)
        if last > horizon:
            continue
        alert.flapping = False
        alert.changes = []
        if alert.incident_id is not None:
            tx.notes.add(
                await tx.incident(alert.incident_id), "alert_flapping_stopped", alert, status=alert.status
            )
            if alert.status == "resolved":
                tx.resolved_in.add(alert.incident_id)
        if alert.status == "firing":
            tx.touch(await tx.group_by_id(alert.group_id), alert)


async def _release_silenced(tx: AlertTxn) -> None:
    rows = await tx.session.exec(
        select(Alert)
        .join(Silence, col(Silence.id) == col(Alert.silenced_by))
        .where(
            Alert.status == "firing",
            (col(Silence.expired_at).is_not(None)) | (col(Silence.ends_at) <= tx.now),
        )
        .limit(LIMIT)
    )
    for alert in rows:
        alert.silenced_by = None
        tx.touch(await tx.group_by_id(alert.group_id), alert)


async def _pending_groups(tx: AlertTxn) -> None:
    """Groups whose routing rule waits for a duration: open them once it has passed."""
    waiting = [
        r.name for r in [*tx.settings.routes, tx.settings.default_route] if r.min_duration_s is not None
    ]
    if not waiting:
        return
    rows = await tx.session.exec(
        select(Alert)
        .outerjoin(Incident, col(Incident.id) == col(Alert.incident_id))
        .where(
            Alert.status == "firing",
            col(Alert.silenced_by).is_(None),
            col(Alert.route).in_(waiting),
            col(Alert.incident_id).is_(None) | col(Incident.status).not_in([s.value for s in OPEN_STATUSES]),
        )
        .limit(LIMIT)
    )
    for alert in rows:
        tx.touch(await tx.group_by_id(alert.group_id), alert)


async def _purge_inbox(tx: AlertTxn) -> None:
    cutoff = tx.now - timedelta(seconds=tx.settings.processor.inbox_retention_s)
    oldest = (
        await tx.session.exec(
            select(AlertInbox.id)
            .where(col(AlertInbox.processed_at).is_not(None), col(AlertInbox.processed_at) < cutoff)
            .order_by(col(AlertInbox.id))
            .limit(5000)
        )
    ).all()
    if oldest:
        await tx.session.exec(delete(AlertInbox).where(col(AlertInbox.id).in_(oldest)))
