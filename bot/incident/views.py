"""REST endpoints of incidents under /api/v1/incidents. Thin: parse, call a flow, return."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from bot.errors import InputError
from bot.incident import flows
from bot.incident.domain import Severity, Status
from bot.incident.schemas import (
    IncidentCreate,
    IncidentOut,
    IncidentQuery,
    IncidentUpdate,
    NoteCreate,
    RoleAssign,
    RoleChange,
    TimelineEventOut,
)
from bot.web.deps import DB, Reader, RuntimeDep, Writer

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    total: int
    limit: int
    offset: int


def _labels(raw: list[str]) -> dict[str, str]:
    labels = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"label filter {item!r} must look like key=value", field="label")
        labels[key] = value
    return labels


@router.post("", status_code=status.HTTP_201_CREATED, summary="Declare an incident")
async def declare(body: IncidentCreate, runtime: RuntimeDep, actor: Writer) -> IncidentOut:
    return await flows.declare_incident(runtime.db, body, actor, authz=runtime.authz)


@router.get("", summary="List incidents, newest first")
async def list_incidents(
    db: DB,
    runtime: RuntimeDep,
    _actor: Reader,
    status_: Annotated[list[Status], Query(alias="status")] = [],  # noqa: B006
    severity: Annotated[list[Severity], Query()] = [],  # noqa: B006
    label: Annotated[list[str], Query(description="key=value, repeatable")] = [],  # noqa: B006
    since: datetime | None = None,
    until: datetime | None = None,
    open_only: bool = False,
    limit: Annotated[int, Query(ge=1)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> IncidentPage:
    limit = min(limit, runtime.settings.api.max_page_size)
    query = IncidentQuery(
        status=status_,
        severity=severity,
        labels=_labels(label),
        since=since,
        until=until,
        open_only=open_only,
        limit=limit,
        offset=offset,
    )
    items, total = await flows.list_incidents(db, query)
    return IncidentPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{ref}", summary="One incident")
async def get_incident(ref: str, db: DB, _actor: Reader) -> IncidentOut:
    return await flows.get_incident(db, ref)


@router.patch("/{ref}", summary="Change severity, status, title or summary")
async def update_incident(ref: str, body: IncidentUpdate, runtime: RuntimeDep, actor: Writer) -> IncidentOut:
    return await flows.update_incident(runtime.db, ref, body, actor, authz=runtime.authz)


@router.post("/{ref}/acknowledge", summary="Acknowledge (first response)")
async def acknowledge(ref: str, runtime: RuntimeDep, actor: Writer) -> IncidentOut:
    return await flows.acknowledge(runtime.db, ref, actor, authz=runtime.authz)


@router.post("/{ref}/roles", summary="Assign a role (a hand-over if it is taken)")
async def assign_role(ref: str, body: RoleAssign, runtime: RuntimeDep, actor: Writer) -> RoleChange:
    return await flows.assign_role(runtime.db, ref, body.role, body.assignee, actor, authz=runtime.authz)


@router.get("/{ref}/timeline", summary="The incident's timeline, oldest first")
async def get_timeline(
    ref: str,
    db: DB,
    _actor: Reader,
    after_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[TimelineEventOut]:
    return await flows.get_timeline(db, ref, after_id=after_id, limit=limit)


@router.post("/{ref}/notes", status_code=status.HTTP_201_CREATED, summary="Add a note")
async def add_note(ref: str, body: NoteCreate, runtime: RuntimeDep, actor: Writer) -> TimelineEventOut:
    return await flows.add_note(runtime.db, ref, body.text, actor, authz=runtime.authz)
