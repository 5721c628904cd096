"""Runbooks a routing rule starts by itself, at most once per incident.

When the rule opens an incident, its ``auto_run`` runbooks start (subject to their approval
policy). When the incident comes back (reopened by its alerts firing again), a runbook that
already ran automatically for it does not start again: the timeline says why, names the
earlier run, and the runbook is offered on the incident (its suggested runbooks, the card's
Plan / Run buttons) for a person to start.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.auth.actor import Actor, Interface
from bot.incident import service as incident_service
from bot.incident import timeline
from bot.runbook import flows, service
from bot.runbook.kinds import Kind
from bot.runbook.schemas import RunOut
from bot.runbook.states import Origin
from bot.runtime import Runtime


def rule_actor(rule: str) -> Actor:
    return Actor(id=f"rule:{rule}", kind="system", interface=Interface.SYSTEM, name=f"routing rule {rule}")


async def auto_run(
    runtime: Runtime,
    incident_ref: str,
    runbook: str,
    inputs: Mapping[str, str],
    rule: str,
    *,
    reopened: bool = False,
) -> RunOut | None:
    """Start ``runbook`` for the rule, or record why not (None): it ran automatically before."""
    async with runtime.db.transaction() as session:
        incident = await incident_service.get_incident(session, incident_ref, for_update=True)
        assert incident.id is not None
        earlier = await service.previous_auto_run(session, incident.id, runbook)
        if earlier is not None:
            offered = incident_service.offer_runbook(incident, runbook)
            why = "reopened" if reopened else "alerts again"
            await timeline.record(
                session,
                incident,
                kind=Kind.AUTO_RUN_SKIPPED.value,
                text=(
                    f"Routing rule {rule} did not start {runbook} again ({incident.ref} {why}): a rule "
                    f"starts a runbook once per incident and {earlier.ref} ran when it opened; "
                    f"{runbook} is offered on the incident to start by hand"
                ),
                actor=rule_actor(rule),
                data={
                    "runbook": runbook,
                    "rule": rule,
                    "previous_run": earlier.ref,
                    "previous_status": earlier.status,
                    "reopened": reopened,
                    "offered": offered,
                },
                audit_action="runbook.auto_run_skipped",
            )
            return None
    return await flows.start_run(
        runtime, runbook, incident_ref, inputs, rule_actor(rule), origin=Origin.AUTO, rule=rule
    )
