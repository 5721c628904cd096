"""API tokens: created once (printed once), stored as SHA-256 hashes, checked by scope.

Scopes are ordered: ``read`` < ``write`` < ``admin``; a token with ``write`` may read. A scope
only opens endpoints; what the caller may do there is decided by ``bot.authz`` for the token's
principal (the person who owns it, or the token itself). Active token names are unique.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.audit.service import audit
from bot.auth.actor import Actor
from bot.auth.models import ApiToken
from bot.db import utcnow
from bot.errors import AuthenticationError, ConflictError, InputError, NotFoundError, PermissionDeniedError

TOKEN_PREFIX = "ibot_"  # noqa: S105  (a prefix, not a secret)
_LAST_USED_RESOLUTION = timedelta(minutes=1)


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def level(self) -> int:
        return {"read": 1, "write": 2, "admin": 3}[self.value]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def has_scope(granted: list[str], needed: Scope) -> bool:
    return any(Scope(s).level >= needed.level for s in granted if s in Scope.__members__.values())


async def create_token(
    session: AsyncSession, name: str, scopes: list[Scope], actor: Actor
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the clear token, which is never stored."""
    name = name.strip()
    if not name:
        raise InputError("a token needs a name", field="name")
    if not scopes:
        raise InputError("a token needs at least one scope (read, write, admin)", field="scopes")
    if await active_token(session, name) is not None:
        raise ConflictError(
            f"an active token is named {name!r} already",
            hint="choose another name, or revoke that token first",
            token=name,
        )
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        prefix=clear[:12],
        token_hash=hash_token(clear),
        scopes=sorted({s.value for s in scopes}),
        created_by=actor.id,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent create took the name first
        raise ConflictError(f"an active token is named {name!r} already", token=name) from None
    audit(
        session,
        actor,
        "token.created",
        target_type="token",
        target_id=name,
        details={"scopes": row.scopes, "prefix": row.prefix},
    )
    return row, clear


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    return list((await session.exec(select(ApiToken).order_by(col(ApiToken.id)))).all())


async def active_token(session: AsyncSession, name: str, *, for_update: bool = False) -> ApiToken | None:
    query = select(ApiToken).where(ApiToken.name == name, col(ApiToken.revoked_at).is_(None))
    return (await session.exec(query.with_for_update() if for_update else query)).first()


async def revoke_token(session: AsyncSession, name: str, actor: Actor) -> ApiToken:
    row = await active_token(session, name, for_update=True)
    if row is None:
        raise NotFoundError(f"no active token named {name!r}")
    row.revoked_at = utcnow()
    session.add(row)
    audit(session, actor, "token.revoked", target_type="token", target_id=name)
    return row


async def authenticate(session: AsyncSession, clear: str, needed: Scope) -> tuple[str, bool]:
    """The name of a bearer token that grants ``needed``; 401 if unknown, 403 if too weak.

    Also says whether ``last_used_at`` is due for an update (kept to one write a minute so
    reads stay reads). The door turns the name into the principal (``Directory.api_token``).
    """
    row = (await session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(clear)))).first()
    if row is None or row.revoked_at is not None:
        raise AuthenticationError("invalid or revoked API token")
    if not has_scope(row.scopes, needed):
        raise PermissionDeniedError(
            f"token {row.name!r} lacks the {needed.value!r} scope",
            hint=f"it has: {', '.join(row.scopes)}",
        )
    due = row.last_used_at is None or utcnow() - row.last_used_at > _LAST_USED_RESOLUTION
    return row.name, due


async def touch_token(session: AsyncSession, clear: str) -> None:
    row = (await session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(clear)))).first()
    if row is not None:
        row.last_used_at = utcnow()
        session.add(row)
