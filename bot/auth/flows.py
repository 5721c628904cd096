"""Token and audit-log doors (REST, CLI): authorized, one transaction each.

A token that a person lists under ``people[].tokens`` acts as that person, so it is created by
that person only (nobody mints someone else's identity); anyone allowed to manage tokens may
revoke it, and so may its person.
"""

from __future__ import annotations

from datetime import datetime

from bot.audit.models import AuditEntry
from bot.audit.service import list_audit
from bot.auth import service
from bot.auth.actor import Actor
from bot.auth.models import ApiToken
from bot.auth.service import Scope
from bot.authz.actions import Action
from bot.authz.policy import Authorizer, Target
from bot.db import Database


def _target(authz: Authorizer, name: str) -> Target:
    owner = authz.directory.owner_of_token(name.strip())
    return Target("token", name.strip(), token_owner=owner.id if owner else None)


async def create_token(
    db: Database, name: str, scopes: list[Scope], actor: Actor, *, authz: Authorizer
) -> tuple[ApiToken, str]:
    """The new token's row and its clear text (shown once, never stored)."""
    async with authz.audited(db), db.transaction() as session:
        await authz.authorize(session, actor, Action.TOKEN_CREATE, _target(authz, name))
        return await service.create_token(session, name, scopes, actor)


async def revoke_token(db: Database, name: str, actor: Actor, *, authz: Authorizer) -> ApiToken:
    async with authz.audited(db), db.transaction() as session:
        await authz.authorize(session, actor, Action.TOKEN_REVOKE, _target(authz, name))
        return await service.revoke_token(session, name, actor)


async def read_audit(
    db: Database,
    actor: Actor,
    *,
    authz: Authorizer,
    incident_id: int | None = None,
    who: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEntry]:
    async with authz.audited(db), db.session() as session:
        await authz.authorize(session, actor, Action.AUDIT_READ, Target("audit", "log"))
        return await list_audit(
            session, incident_id=incident_id, actor=who, since=since, limit=limit, offset=offset
        )
