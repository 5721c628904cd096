"""Runbooks from Slack: list, suggested, plan (dry run), run, approve, deny.

Each calls a door of ``bot.runbook.flows``, which decides who may run or approve
(``bot.authz``: the runbook's own policy on top of ``permissions``, Slack's user groups behind
the configured ones) and audits refusals. The channel hears about plans, approvals and progress
from the timeline (``room.runbook_messages``); these only answer the person who asked.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext

from bot.auth.actor import Actor
from bot.errors import ConflictError, InputError
from bot.runbook import flows
from bot.runbook.explain import explain
from bot.runbook.schemas import PlanOut, RunOut
from bot.runbook.states import RunStatus
from bot.slack import blocks as bk
from bot.slack.card import runbook_value
from bot.slack.deps import SlackDeps
from bot.slack.handlers.buttons import after_ack
from bot.slack.ids import ActionId, BlockId
from bot.slack.replies import Reply


async def list_all(deps: SlackDeps, reply: Reply) -> None:
    catalog = await flows.list_runbooks(deps.runtime)
    lines = [f"• `{bk.escape(r.name)}` {bk.escape(r.title)}" for r in catalog.runbooks]
    lines += [
        f"• :warning: `{bk.escape(i.file)}` is invalid: {bk.escape(i.errors[0])}" for i in catalog.invalid
    ]
    await reply.say(
        "Runbooks",
        [bk.section("*Runbooks*\n" + ("\n".join(lines) if lines else "_none in the runbooks folder_"))],
    )


async def suggested(deps: SlackDeps, ref: str, reply: Reply) -> None:
    found = await flows.suggested_for(deps.runtime, ref)
    if not found:
        await reply.say(f"No runbook is suggested for {ref}; `/incident runbook list` shows them all.")
        return
    blocks = [bk.section(f"*Suggested runbooks for {ref}*")]
    for index, item in enumerate(found[:10]):
        blocks.append(
            bk.section(f"`{bk.escape(item.name)}` {bk.escape(item.title)} ({', '.join(item.reasons)})")
        )
        blocks.append(_plan_run_buttons(ref, item.name, f"{BlockId.SUGGESTED_RUNBOOKS.value}.{index}"))
    await reply.say(f"Suggested runbooks for {ref}", blocks)


def _plan_run_buttons(ref: str, name: str, block_id: str) -> bk.Block:
    value = runbook_value(ref, name)
    confirm = bk.confirm(
        f"Run {name}?"[:100], f"This runs `{bk.escape(name)}` on {ref} and changes systems.", ok="Run"
    )
    return bk.actions(
        block_id,
        bk.button(f"Plan {name}", ActionId.RUNBOOK_PLAN, value),
        bk.button(f"Run {name}", ActionId.RUNBOOK_RUN, value, style="danger", confirmation=confirm),
    )


def _plan_summary(plan: PlanOut) -> str:
    steps = "\n".join(
        f"• `{bk.escape(s.step)}` {bk.escape(s.summary or '')}"
        + (f" :warning: {bk.escape(s.error)}" if s.error else "")
        + (f"\n    _{bk.escape(why)}_" if (why := explain(s.details)) else "")
        for s in plan.steps
    )
    need = plan.approval.approvals_required
    approval = f"needs {need} approval(s)" if need else "needs no approval"
    head = f":clipboard: *Dry run of `{bk.escape(plan.runbook)}`* on {plan.incident}"
    return f"{head} (nothing changed; {approval})\n{steps}"


async def plan(
    deps: SlackDeps, actor: Actor, ref: str, name: str, inputs: dict[str, str], reply: Reply
) -> None:
    result = await flows.plan_run(deps.runtime, name, ref, inputs, actor)
    await reply.say(
        f"Dry run of {result.runbook} on {ref}",
        [
            bk.section(_plan_summary(result)),
            _plan_run_buttons(ref, result.runbook, BlockId.PLAN_ACTIONS.value),
        ],
    )


def _run_state(run: RunOut) -> str:
    if run.status == RunStatus.AWAITING_APPROVAL:
        who = ", ".join(run.approvers) or "no one"
        return f"waits for {run.approvals_required} approval(s) from {bk.escape(who)}"
    if run.status == RunStatus.PENDING:
        return "starts now"
    return run.status.value.replace("_", " ")


async def run(
    deps: SlackDeps, actor: Actor, ref: str, name: str, inputs: dict[str, str], reply: Reply
) -> None:
    out = await flows.start_run(deps.runtime, name, ref, inputs, actor)
    await reply.say(f":arrow_forward: {out.ref} ({bk.escape(out.runbook_title)}) {_run_state(out)}.")


async def _pending_run(deps: SlackDeps, ref: str, run_id: int | None, doing: str) -> str:
    """The run to decide on: the one named (it must belong to ``ref``), or the only one waiting."""
    if run_id is not None:
        return await _named_run(deps, ref, run_id, doing)
    waiting = await flows.pending_approvals(deps.runtime, ref)
    if not waiting:
        raise ConflictError(f"no runbook run of {ref} waits for approval")
    if len(waiting) > 1:
        refs = ", ".join(w.ref for w in waiting)
        raise InputError(
            f"several runs wait for approval: {refs}", hint=f"say which: /incident {doing} RUN-n"
        )
    return waiting[0].ref


async def approve(deps: SlackDeps, actor: Actor, ref: str, run_id: int | None, reply: Reply) -> None:
    run_ref = await _pending_run(deps, ref, run_id, "approve")
    out = await flows.approve(deps.runtime, run_ref, actor)
    await reply.say(
        f":+1: You approved {out.ref} ({bk.escape(out.runbook_title)}); it {_run_state(out)}.", replace=True
    )


async def deny(
    deps: SlackDeps, actor: Actor, ref: str, run_id: int | None, reason: str | None, reply: Reply
) -> None:
    run_ref = await _pending_run(deps, ref, run_id, "deny")
    out = await flows.deny(deps.runtime, run_ref, actor, reason or "")
    await reply.say(f":no_entry: You denied {out.ref} ({bk.escape(out.runbook_title)}).", replace=True)


async def _named_run(deps: SlackDeps, ref: str, run_id: int, doing: str) -> str:
    out = await flows.get_run(deps.runtime, f"RUN-{run_id}")
    if out.incident != ref:
        raise InputError(f"{out.ref} belongs to {out.incident}, not {ref}", hint=f"{doing} it from there")
    return out.ref


async def cancel(deps: SlackDeps, actor: Actor, ref: str, run_id: int, reply: Reply) -> None:
    out = await flows.cancel(deps.runtime, await _named_run(deps, ref, run_id, "cancel"), actor)
    await reply.say(f":stop_sign: {out.ref} ({bk.escape(out.runbook_title)}) is {_run_state(out)}.")


async def undo(deps: SlackDeps, actor: Actor, ref: str, run_id: int, reply: Reply) -> None:
    out = await flows.undo(deps.runtime, await _named_run(deps, ref, run_id, "undo"), actor)
    state = "its undo starts now" if out.status == RunStatus.UNDOING else f"its undo {_run_state(out)}"
    await reply.say(f":leftwards_arrow_with_hook: {out.ref} ({bk.escape(out.runbook_title)}): {state}.")


def _button_value(body: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(str(body["actions"][0].get("value") or "{}"))
    except (KeyError, IndexError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _run_number(value: dict[str, Any]) -> int | None:
    text = str(value.get("run") or "")
    number = text.upper().removeprefix("RUN-")
    return int(number) if number.isdigit() else None


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.action(ActionId.RUNBOOK_PLAN.value)
    async def plan_clicked(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        name = str(_button_value(body).get("runbook") or "")
        after_ack(deps, body, context, "plan", lambda a, ref, r: plan(deps, a, ref, name, {}, r))

    @app.action(ActionId.RUNBOOK_RUN.value)
    async def run_clicked(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        name = str(_button_value(body).get("runbook") or "")
        after_ack(deps, body, context, "run", lambda a, ref, r: run(deps, a, ref, name, {}, r))

    @app.action(ActionId.RUN_APPROVE.value)
    async def approve_clicked(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        number = _run_number(_button_value(body))
        after_ack(deps, body, context, "approve", lambda a, ref, r: approve(deps, a, ref, number, r))

    @app.action(ActionId.RUN_DENY.value)
    async def deny_clicked(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        number = _run_number(_button_value(body))
        after_ack(deps, body, context, "deny", lambda a, ref, r: deny(deps, a, ref, number, None, r))
