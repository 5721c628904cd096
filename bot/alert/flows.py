"""Door-level alert and silence operations (REST, CLI): one transaction each, plain snapshots.

Creating a silence marks the firing alerts it matches right away (and notes it on their open
incidents); expiring one releases its alerts at the processor's next sweep, where they may
open incidents again.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, func, select

from bot.alert.matchers import Matcher, match_labels, matches_all
from bot.alert.models import Alert, AlertInbox, Silence
from bot.alert.notes import Notes
from bot.alert.schemas import AlertOut, AlertPage, AlertQuery, InboxStatus, SilenceCreate, SilenceOut
from bot.alert.spool import pending_alerts
from bot.audit.service import audit
from bot.auth.actor import Actor
from bot.authz.actions import Action
from bot.authz.policy import Authorizer, Target
from bot.db import Database, utcnow
from bot.errors import ConflictError, InputError, NotFoundError
from bot.incident import service as incidents
from bot.incident.domain import format_ref, parse_ref


def silence_out(silence: Silence, now: datetime, silenced: int | None = None) -> SilenceOut:
    out = SilenceOut.model_validate(silence)
    if silence.expired_at is not None or silence.ends_at <= now:
        out.state = "expired"
    elif silence.starts_at > now:
        out.state = "pending"
    out.silenced_alerts = silenced
    return out


async def create_silence(db: Database, data: SilenceCreate, actor: Actor, *, authz: Authorizer) -> SilenceOut:
    now = utcnow()
    starts, ends = data.window(now)
    if ends <= now:
        raise InputError("the silence would end in the past", field="ends_at")
    if ends <= starts:
        raise InputError("ends_at must be after starts_at", field="ends_at")
    async with authz.audited(db), db.transaction() as session:
        target = Target("silence", "(new)", details={"matchers": ", ".join(data.matchers)})
        await authz.authorize(session, actor, Action.SILENCE_CREATE, target)
        silence = Silence(
            matchers=data.matchers,
            starts_at=starts,
            ends_at=ends,
            reason=data.reason,
            created_by=actor.label,
            created_at=now,
        )
        session.add(silence)
        await session.flush()
        assert silence.id is not None
        silenced = 0
        if silence.active_at(now):
            matchers = [Matcher.parse(m) for m in silence.matchers]
            notes = Notes()
            firing = await session.exec(
                select(Alert).where(Alert.status == "firing", col(Alert.silenced_by).is_(None))
            )
            for alert in firing:
                labels = match_labels(
                    alert.labels, source=alert.source, kind=alert.kind, severity=alert.severity
                )
                if not matches_all(matchers, labels):
                    continue
                alert.silenced_by = silence.id
                silenced += 1
                if alert.incident_id is not None:
                    incident = await incidents.get_incident(session, alert.incident_id, for_update=True)
                    notes.add(incident, "alert_silenced", alert, silence=silence.id, reason=silence.reason)
            await notes.flush(session)
        audit(
            session,
            actor,
            "silence.create",
            target_type="silence",
            target_id=str(silence.id),
            details={"matchers": silence.matchers, "ends_at": ends.isoformat(), "reason": data.reason},
        )
        return silence_out(silence, now, silenced)


async def list_silences(db: Database, *, include_expired: bool = False, limit: int = 200) -> list[SilenceOut]:
    now = utcnow()
    query = select(Silence)
    if not include_expired:
        query = query.where(col(Silence.expired_at).is_(None), col(Silence.ends_at) > now)
    async with db.session() as session:
        rows = await session.exec(query.order_by(col(Silence.id).desc()).limit(limit))
        return [silence_out(s, now) for s in rows]


async def expire_silence(db: Database, silence_id: int, actor: Actor, *, authz: Authorizer) -> SilenceOut:
    now = utcnow()
    async with authz.audited(db), db.transaction() as session:
        silence = (
            await session.exec(select(Silence).where(Silence.id == silence_id).with_for_update())
        ).first()
        if silence is None:
            raise NotFoundError(f"silence {silence_id} does not exist", silence=silence_id)
        await authz.authorize(session, actor, Action.SILENCE_EXPIRE, Target("silence", str(silence_id)))
        if silence.expired_at is not None or silence.ends_at <= now:
            raise ConflictError(f"silence {silence_id} has already expired", silence=silence_id)
        silence.expired_at = now
        silence.expired_by = actor.label
        session.add(silence)
        audit(session, actor, "silence.expire", target_type="silence", target_id=str(silence_id))
        return silence_out(silence, now)


async def list_alerts(db: Database, query: AlertQuery) -> AlertPage:
    stmt = select(Alert)
    if query.status:
        stmt = stmt.where(Alert.status == query.status)
    if query.source:
        stmt = stmt.where(Alert.source == query.source)
    if query.fingerprint:
        stmt = stmt.where(Alert.fingerprint == query.fingerprint.lower())
    if query.silenced is not None:
        silenced = col(Alert.silenced_by).is_not(None)
        stmt = stmt.where(silenced if query.silenced else ~silenced)
    if query.incident:
        try:
            stmt = stmt.where(Alert.incident_id == parse_ref(query.incident))
        except ValueError as exc:
            raise InputError(str(exc), field="incident") from None
    async with db.session() as session:
        total = (await session.exec(select(func.count()).select_from(stmt.subquery()))).one()
        rows = await session.exec(
            stmt.order_by(col(Alert.last_seen_at).desc(), col(Alert.id).desc())
            .offset(query.offset)
            .limit(query.limit)
        )
        items = [alert_out(a) for a in rows]
    return AlertPage(items=items, total=int(total), limit=query.limit, offset=query.offset)


def alert_out(alert: Alert) -> AlertOut:
    out = AlertOut.model_validate(alert)
    out.incident = format_ref(alert.incident_id) if alert.incident_id is not None else None
    return out


async def inbox_status(db: Database, *, failures: int = 20) -> InboxStatus:
    pending, oldest = await pending_alerts(db)
    async with db.session() as session:
        failed = (await session.exec(select(func.count()).where(col(AlertInbox.failed).is_(True)))).one()
        rows = await session.exec(
            select(AlertInbox)
            .where(col(AlertInbox.failed).is_(True))
            .order_by(col(AlertInbox.id).desc())
            .limit(failures)
        )
        recent = [
            {
                "id": r.id,
                "source": r.source,
                "received_at": r.received_at,
                "attempts": r.attempts,
                "error": r.error,
            }
            for r in rows
        ]
    return InboxStatus(pending=pending, oldest_pending_at=oldest, failed=int(failed), recent_failures=recent)
