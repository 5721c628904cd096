"""A step declared ``mitigates: true`` ties the incident's "mitigated" to its verification: success
mitigates (with the check as the reason), failure does not (and takes back a mitigation), undoing
the verified run takes it back too. Alert-driven mitigation is told apart on the timeline."""

from __future__ import annotations

from typing import Any

from bot.incident import flows as incident_flows
from bot.incident.domain import Status
from bot.incident.schemas import IncidentUpdate
from bot.runbook import flows
from bot.runbook.states import RunStatus
from bot.runtime import Runtime
from tests.runbook.actions import Store
from tests.runbook.conftest import ALICE, WriteRunbook, declare, eventually

VERIFIED = """
steps:
  - id: rollback
    action: test.set
    with: {key: alias, value: v1}
  - id: verify
    action: metrics.wait_until
    mitigates: true
    with: {expr: error_rate, op: "<", threshold: 0.05, for_s: 0.3, interval_s: 0.1, timeout_s: 1}
"""


async def status_events(rt: Runtime, incident: str) -> list[dict[str, Any]]:
    timeline = await incident_flows.get_timeline(rt.db, incident)
    return [e.data for e in timeline if e.kind == "status_changed"]


async def test_a_successful_verification_mitigates_the_incident_with_its_reason(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("verified", VERIFIED)
    store.values["metric:error_rate"] = 0.01
    incident = await declare(rt)
    run = await flows.execute(rt, (await flows.start_run(rt, "verified", incident, {}, ALICE)).ref)
    assert run.status == RunStatus.SUCCEEDED
    now = await incident_flows.get_incident(rt.db, incident)
    assert now.status == Status.MITIGATED and now.mitigated_at is not None
    (moved,) = await status_events(rt, incident)
    assert moved["to"] == "mitigated" and moved["mitigated_by"] == "runbook"
    assert (moved["run"], moved["step"]) == (run.ref, "verify")
    assert moved["reason"].startswith("verified: error_rate < 0.05 for 0.3s: holds, now 0.01")


async def test_a_verification_of_an_incident_already_mitigated_by_its_alerts_is_recorded(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("verified", VERIFIED)
    incident = await declare(rt)
    await incident_flows.update_incident(
        rt.db, incident, IncidentUpdate(status=Status.MITIGATED), ALICE, authz=rt.authz
    )
    await flows.execute(rt, (await flows.start_run(rt, "verified", incident, {}, ALICE)).ref)
    timeline = await incident_flows.get_timeline(rt.db, incident)
    (verified,) = [e for e in timeline if e.kind == "mitigation_verified"]
    assert verified.data["mitigated_by"] == "runbook" and verified.text.startswith(
        "Mitigation verified by RUN-1 step verify"
    )


async def test_a_failed_verification_does_not_mitigate_and_takes_a_mitigation_back(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("verified", VERIFIED)
    store.values["metric:error_rate"] = 0.2
    incident = await declare(rt)
    run = await flows.execute(rt, (await flows.start_run(rt, "verified", incident, {}, ALICE)).ref)
    assert run.status == RunStatus.FAILED
    assert (await incident_flows.get_incident(rt.db, incident)).status == Status.TRIGGERED

    # Mitigated meanwhile (alerts resolved, or a person said so): a failed check takes it back.
    await incident_flows.update_incident(
        rt.db, incident, IncidentUpdate(status=Status.MITIGATED), ALICE, authz=rt.authz
    )
    again = await flows.execute(rt, (await flows.start_run(rt, "verified", incident, {}, ALICE)).ref)
    assert again.status == RunStatus.FAILED
    assert (await incident_flows.get_incident(rt.db, incident)).status == Status.INVESTIGATING
    back = (await status_events(rt, incident))[-1]
    assert back["from"] == "mitigated" and back["verification"] == "failed"
    assert back["reason"].startswith(f"verification failed ({again.ref} step verify):")
    assert "error_rate < 0.05 not met" in back["reason"]


async def test_undoing_the_verified_run_takes_its_mitigation_back(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("verified", VERIFIED)
    store.values["metric:error_rate"] = 0.01
    incident = await declare(rt)
    run = await flows.execute(rt, (await flows.start_run(rt, "verified", incident, {}, ALICE)).ref)
    assert (await incident_flows.get_incident(rt.db, incident)).status == Status.MITIGATED
    await flows.undo(rt, run.ref, ALICE)
    undone = await flows.execute(rt, run.ref)
    assert undone.status == RunStatus.UNDONE and store.values["alias"] is None

    async def investigating() -> bool:
        return (await incident_flows.get_incident(rt.db, incident)).status == Status.INVESTIGATING

    await eventually(investigating)
    back = (await status_events(rt, incident))[-1]
    assert back["undone"] is True and back["run"] == run.ref
