"""REST endpoints of runbooks and runs under /api/v1. Thin: parse, call a flow, return.

Errors follow the core's conventions: 422 invalid input or runbook file, 404 unknown runbook,
run or incident, 409 state conflicts (already running, not awaiting approval, expired), 403
refused by a policy.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from bot.runbook import flows
from bot.runbook.schemas import (
    ApproversOut,
    DenyRequest,
    PlanOut,
    PlanRequest,
    RunbookListOut,
    RunbookOut,
    RunOut,
    RunRequest,
    SuggestedRunbookOut,
)
from bot.runbook.states import RunStatus
from bot.web.deps import Reader, RuntimeDep, Writer

router = APIRouter(prefix="/api/v1", tags=["runbooks"])


class RunList(BaseModel):
    items: list[RunOut]
    limit: int


@router.get("/runbooks", summary="The runbooks of the runbooks folder (and the invalid files)")
async def list_runbooks(runtime: RuntimeDep, _actor: Reader) -> RunbookListOut:
    return await flows.list_runbooks(runtime)


@router.get("/runbooks/{name}", summary="One runbook: inputs, approval policy, steps")
async def get_runbook(name: str, runtime: RuntimeDep, _actor: Reader) -> RunbookOut:
    return await flows.get_runbook(runtime, name)


@router.post("/runbooks/{name}/plan", summary="Dry-run: render inputs, plan every step, change nothing")
async def plan_run(name: str, body: PlanRequest, runtime: RuntimeDep, actor: Writer) -> PlanOut:
    return await flows.plan_run(runtime, name, body.incident, body.inputs, actor)


@router.get(
    "/incidents/{ref}/suggested-runbooks",
    summary="Runbooks suggested for an incident (routing rule, runbook when: matchers)",
)
async def suggested_runbooks(ref: str, runtime: RuntimeDep, _actor: Reader) -> list[SuggestedRunbookOut]:
    return await flows.suggested_for(runtime, ref)


@router.post("/runs", status_code=status.HTTP_201_CREATED, summary="Start a run (it may wait for approval)")
async def start_run(body: RunRequest, runtime: RuntimeDep, actor: Writer) -> RunOut:
    return await flows.start_run(runtime, body.runbook, body.incident, body.inputs, actor)


@router.get("/runs", summary="Runs, newest first")
async def list_runs(
    runtime: RuntimeDep,
    _actor: Reader,
    incident: str | None = None,
    status_: Annotated[list[RunStatus], Query(alias="status")] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1)] = 50,
) -> RunList:
    limit = min(limit, runtime.settings.api.max_page_size)
    items = await flows.list_runs(runtime, incident_ref=incident, statuses=status_, limit=limit)
    return RunList(items=items, limit=limit)


@router.get("/runs/{ref}", summary="One run with its steps, approvals and undo")
async def get_run(ref: str, runtime: RuntimeDep, _actor: Reader) -> RunOut:
    return await flows.get_run(runtime, ref)


@router.get("/runs/{ref}/approvers", summary="Who may approve a run, and who did")
async def approvers(ref: str, runtime: RuntimeDep, _actor: Reader) -> ApproversOut:
    return await flows.approvers_for(runtime, ref)


@router.post("/runs/{ref}/approve", summary="Approve a run")
async def approve(ref: str, runtime: RuntimeDep, actor: Writer) -> RunOut:
    return await flows.approve(runtime, ref, actor)


@router.post("/runs/{ref}/deny", summary="Deny a run that awaits approval")
async def deny(ref: str, body: DenyRequest, runtime: RuntimeDep, actor: Writer) -> RunOut:
    return await flows.deny(runtime, ref, actor, body.reason)


@router.post("/runs/{ref}/cancel", summary="Cancel a waiting run, or stop a running one after its step")
async def cancel(ref: str, runtime: RuntimeDep, actor: Writer) -> RunOut:
    return await flows.cancel(runtime, ref, actor)


@router.post("/runs/{ref}/undo", summary="Undo a finished run: inverses of its changes, last first")
async def undo(ref: str, runtime: RuntimeDep, actor: Writer) -> RunOut:
    return await flows.undo(runtime, ref, actor)
