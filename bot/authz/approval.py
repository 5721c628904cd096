"""How many approvals a run needs: fixed when it is asked for, and never lowered by the asker.

A runbook's ``approval:`` gives a level per incident severity. Three rules sit on top:

1. **A floor.** A run that changes something (any step whose action is mutating) needs at
   least one approval, by a person other than the one who asked (four eyes), unless
   ``permissions.runs_without_approval`` lists the runbook: only then do its ``none`` levels
   and ``four_eyes: false`` take effect.
2. **Nobody lowers their own bar.** The level is read at the incident's current severity *and*
   at the latest severity set by someone trusted for this request: the bot (alert routing) or
   a person other than the one asking. Severities the asker set (through any door), or an API
   token set, do not count; with no trusted severity at all (an incident the asker declared
   and escalated), the runbook's ``required`` level applies. The higher of the two wins.
3. **Only up.** A run's level is fixed when it is requested; when an approval comes in, the
   level is computed again for the incident's severity then and the run needs the higher of
   the two (``bot.runbook.flows``). An undo needs at least what its run needed.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.incident import timeline
from bot.incident.models import Incident
from bot.permissions import PermissionSettings
from bot.runbook.models import ApprovalLevel, RunbookSpec

_SEVERITY_KINDS = ["declared", "severity_changed"]
_LEVELS = {0: ApprovalLevel.NONE, 1: ApprovalLevel.ONE, 2: ApprovalLevel.TWO}


@dataclass(frozen=True)
class ApprovalNeed:
    level: ApprovalLevel
    four_eyes: bool
    #: Why more is needed than the runbook's level for the current severity, for people.
    reason: str | None = None

    @property
    def approvals(self) -> int:
        return self.level.approvals


@dataclass(frozen=True)
class SeveritySetting:
    severity: str
    actor_id: str | None
    interface: str


def may_skip_approval(permissions: PermissionSettings, runbook: str) -> bool:
    return any(fnmatch.fnmatchcase(runbook, pattern) for pattern in permissions.runs_without_approval)


def trusted(setting: SeveritySetting, requester: str) -> bool:
    """A severity set by the bot, or by a person other than ``requester``; events written
    before principals were recorded (no actor id) count as set by someone else."""
    if setting.interface == "system" or setting.actor_id is None:
        return True
    return not setting.actor_id.startswith("token:") and setting.actor_id != requester


async def severity_history(session: AsyncSession, incident: Incident) -> list[SeveritySetting]:
    assert incident.id is not None
    events = await timeline.list_events(session, incident.id, kinds=_SEVERITY_KINDS, limit=100_000)
    history = []
    for event in events:
        severity = event.data.get("severity" if event.kind == "declared" else "to")
        if isinstance(severity, str):
            history.append(SeveritySetting(severity, event.actor_id, event.interface))
    return history


async def approval_need(
    session: AsyncSession,
    permissions: PermissionSettings,
    spec: RunbookSpec,
    incident: Incident,
    requester: str,
    *,
    changes_systems: bool,
) -> ApprovalNeed:
    """The approvals a run of ``spec`` on ``incident`` needs when ``requester`` asks now."""
    floor = changes_systems and not may_skip_approval(permissions, spec.name)

    def level(raw: ApprovalLevel) -> int:
        return max(raw.approvals, 1) if floor else raw.approvals

    policy = spec.approval
    stated = policy.level_for(incident.severity).approvals
    need = level(policy.level_for(incident.severity))
    reason = None
    if need > stated:
        reason = (
            f"a run that changes systems needs an approval unless permissions.runs_without_approval "
            f"lists {spec.name}"
        )
    history = await severity_history(session, incident)
    base = next((s for s in reversed(history) if trusted(s, requester)), None)
    if base is None:
        from_base, where = level(policy.required), f"the runbook's required level ({policy.required.value})"
    else:
        from_base, where = level(policy.level_for(base.severity)), f"the level at {base.severity}"
    if from_base > need:
        need = from_base
        reason = (
            f"the incident's severity {incident.severity} was not set by alert routing or by another "
            f"person, so {where} applies"
        )
    return ApprovalNeed(level=_LEVELS[min(need, 2)], four_eyes=policy.four_eyes or floor, reason=reason)
