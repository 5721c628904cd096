"""REST endpoints of chat delivery: what the bot said (or will say) per incident."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from bot.chat import service
from bot.chat.outbox import OutboxStatus
from bot.chat.service import ChatMessageOut
from bot.incident.service import get_incident
from bot.web.deps import DB, Reader, RuntimeDep, Writer

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])


class ChatMessagePage(BaseModel):
    items: list[ChatMessageOut]
    total: int
    limit: int
    offset: int


@router.get("/messages", summary="Outbound chat messages (the outbox), oldest first")
async def list_messages(
    db: DB,
    runtime: RuntimeDep,
    _actor: Reader,
    incident: Annotated[str | None, Query(description="INC-n")] = None,
    status: Annotated[list[OutboxStatus], Query()] = [],  # noqa: B006
    lane: str | None = None,
    limit: Annotated[int, Query(ge=1)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ChatMessagePage:
    limit = min(limit, runtime.settings.api.max_page_size)
    async with db.session() as session:
        incident_id = None
        if incident is not None:
            incident_id = (await get_incident(session, incident)).id
        rows, total = await service.list_messages(
            session, incident_id=incident_id, statuses=status, lane=lane, limit=limit, offset=offset
        )
        items = [service.to_out(row) for row in rows]
    return ChatMessagePage(items=items, total=total, limit=limit, offset=offset)


@router.post("/messages/{message_id}/retry", summary="Send a dead or retrying message again now")
async def retry_message(message_id: int, runtime: RuntimeDep, actor: Writer) -> ChatMessageOut:
    return await service.retry(runtime.db, message_id, actor, authz=runtime.authz)
