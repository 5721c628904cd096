"""HTTP endpoints: ``POST /webhooks/{source}`` (sender auth per source), and the alerts,
silences and inbox API under /api/v1 (API tokens). Thin: parse, call a flow, return."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from bot.alert import flows
from bot.alert.schemas import AlertPage, AlertQuery, InboxStatus, SilenceCreate, SilenceOut
from bot.alert.webhook import WebhookReceiver
from bot.web.deps import DB, Admin, Reader, RuntimeDep, Writer

webhooks = APIRouter(tags=["webhooks"])
api = APIRouter(prefix="/api/v1", tags=["alerts"])

_WEBHOOK_DOC = {
    "requestBody": {
        "required": True,
        "description": "The sender's own payload (Alertmanager v4, Grafana, PagerDuty Events v2, "
        "Datadog template, or JSON read by the source's generic mapping).",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "responses": {
        "202": {"description": "Committed: the alerts will be processed"},
        "400": {"description": "Not JSON"},
        "401": {"description": "Missing or wrong credentials; nothing stored"},
        "404": {"description": "No source of that name"},
        "413": {"description": "Body over alerts.intake.max_body_bytes"},
        "422": {"description": "JSON of the wrong shape; names the field"},
        "503": {"description": "Not committed; retry after Retry-After seconds"},
    },
}


@webhooks.post(
    "/webhooks/{source}",
    summary="Receive alerts from a monitoring system",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=_WEBHOOK_DOC,
)
async def receive_webhook(source: str, request: Request) -> Response:
    receiver: WebhookReceiver = request.app.state.alert_webhooks
    return await receiver.receive(source, request)


@api.get("/alerts", summary="List alerts, most recently seen first")
async def list_alerts(
    db: DB,
    _actor: Reader,
    status_: Annotated[Literal["firing", "resolved"] | None, Query(alias="status")] = None,
    source: str | None = None,
    incident: Annotated[str | None, Query(description="INC-n")] = None,
    fingerprint: str | None = None,
    silenced: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AlertPage:
    query = AlertQuery(
        status=status_,
        source=source,
        incident=incident,
        fingerprint=fingerprint,
        silenced=silenced,
        limit=limit,
        offset=offset,
    )
    return await flows.list_alerts(db, query)


@api.get("/alerts/inbox", summary="Webhook requests waiting to be processed, and those set aside")
async def inbox(db: DB, _actor: Admin) -> InboxStatus:
    return await flows.inbox_status(db)


@api.post("/silences", status_code=status.HTTP_201_CREATED, summary="Silence alerts matching label matchers")
async def create_silence(body: SilenceCreate, runtime: RuntimeDep, actor: Writer) -> SilenceOut:
    return await flows.create_silence(runtime.db, body, actor, authz=runtime.authz)


@api.get("/silences", summary="Active and pending silences (expired too with include_expired)")
async def list_silences(db: DB, _actor: Reader, include_expired: bool = False) -> list[SilenceOut]:
    return await flows.list_silences(db, include_expired=include_expired)


@api.post("/silences/{silence_id}/expire", summary="End a silence now")
async def expire_silence(silence_id: int, runtime: RuntimeDep, actor: Writer) -> SilenceOut:
    return await flows.expire_silence(runtime.db, silence_id, actor, authz=runtime.authz)
