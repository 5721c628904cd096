"""Write and read audit entries. Details are redacted before they are stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.audit.models import AuditEntry
from bot.auth.actor import Actor
from bot.redact import redact


def audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    target_type: str,
    target_id: str,
    incident_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor=actor.id,
        actor_kind=actor.kind,
        interface=actor.interface.value,
        action=action,
        target_type=target_type,
        target_id=target_id,
        incident_id=incident_id,
        details=redact(details or {}),
    )
    session.add(entry)
    return entry


async def list_audit(
    session: AsyncSession,
    *,
    incident_id: int | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEntry]:
    query = select(AuditEntry)
    if incident_id is not None:
        query = query.where(AuditEntry.incident_id == incident_id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if since is not None:
        query = query.where(col(AuditEntry.at) >= since)
    query = query.order_by(col(AuditEntry.id).desc()).offset(offset).limit(limit)
    return list((await session.exec(query)).all())
