"""Audit log and API token endpoints (admin scope)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from bot.auth import flows
from bot.auth.service import Scope, list_tokens
from bot.errors import InputError
from bot.incident.domain import parse_ref
from bot.web.deps import DB, Admin, RuntimeDep

router = APIRouter(prefix="/api/v1", tags=["admin"])


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_kind: str
    interface: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1)


class TokenOut(BaseModel):
    name: str
    prefix: str
    scopes: list[str]
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; only its hash is stored.")


@router.get("/audit", summary="Audit log, newest first")
async def audit_log(
    runtime: RuntimeDep,
    caller: Admin,
    incident: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AuditOut]:
    try:
        incident_id = parse_ref(incident) if incident else None
    except ValueError as exc:
        raise InputError(str(exc), field="incident") from None
    rows = await flows.read_audit(
        runtime.db,
        caller,
        authz=runtime.authz,
        incident_id=incident_id,
        who=actor,
        since=since,
        limit=limit,
        offset=offset,
    )
    return [AuditOut.model_validate(r, from_attributes=True) for r in rows]


@router.get("/tokens", summary="API tokens (never the secret)")
async def tokens(db: DB, _actor: Admin) -> list[TokenOut]:
    async with db.session() as session:
        return [TokenOut.model_validate(t, from_attributes=True) for t in await list_tokens(session)]


@router.post("/tokens", status_code=status.HTTP_201_CREATED, summary="Create an API token")
async def new_token(body: TokenCreate, runtime: RuntimeDep, actor: Admin) -> TokenCreated:
    row, clear = await flows.create_token(runtime.db, body.name, body.scopes, actor, authz=runtime.authz)
    return TokenCreated(**TokenOut.model_validate(row, from_attributes=True).model_dump(), token=clear)


@router.delete("/tokens/{name}", summary="Revoke an API token (the active one of that name)")
async def delete_token(name: str, runtime: RuntimeDep, actor: Admin) -> TokenOut:
    row = await flows.revoke_token(runtime.db, name, actor, authz=runtime.authz)
    return TokenOut.model_validate(row, from_attributes=True)
