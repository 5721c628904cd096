"""Who may run, approve, deny and cancel: the runbook's policy, else the permission settings.

Principals are those of ``bot.permissions``: ``role:<role>`` (a role the person holds on the
run's incident), ``@group`` (configured under ``runbooks.approver_groups`` or a chat user
group), a user id, ``token:<name>``, or ``*``. Four eyes: the requester may not approve.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.auth.actor import Actor
from bot.config import Settings
from bot.errors import PermissionDeniedError
from bot.incident import service as incident_service
from bot.permissions import GroupResolver, is_allowed
from bot.runbook.models import RunbookSpec
from bot.runbook.tables import RunbookRun


class Groups:
    """Members of ``@groups``: configured ones first, then the chat layer's resolver."""

    def __init__(self, configured: dict[str, list[str]], resolver: GroupResolver | None = None) -> None:
        self.configured = configured
        self.resolver = resolver

    async def members(self, group: str) -> set[str]:
        members = set(self.configured.get(group, []))
        if self.resolver is not None:
            members |= await self.resolver.members(group)
        return members


def groups_for(settings: Settings, resolver: GroupResolver | None) -> Groups:
    return Groups(settings.runbooks.approver_groups, resolver)


async def roles_held(session: AsyncSession, incident_id: int, actor: Actor) -> list[str]:
    """The roles ``actor`` holds on the incident (matched by id or display name)."""
    names = {actor.id, actor.name} - {None}
    roles = await incident_service.current_roles(session, incident_id)
    return [role.value for role, holder in roles.items() if holder.assignee in names]


def run_principals(spec: RunbookSpec, settings: Settings) -> list[str]:
    return list(spec.run_by or settings.permissions.run_runbooks)


def approver_principals(spec: RunbookSpec, settings: Settings) -> list[str]:
    return list(spec.approval.approvers or settings.permissions.approve_runbooks)


async def require_runner(
    actor: Actor, spec: RunbookSpec, settings: Settings, roles: list[str], groups: Groups
) -> None:
    principals = run_principals(spec, settings)
    if not await is_allowed(actor, principals, roles_held=roles, groups=groups):
        raise PermissionDeniedError(
            f"{actor.label} may not run runbook {spec.name}",
            hint=f"allowed: {', '.join(principals) or 'no one'} (the runbook's run_by, else "
            "permissions.run_runbooks)",
            runbook=spec.name,
        )


async def may_approve(actor: Actor, run: RunbookRun, roles: list[str], groups: Groups) -> str | None:
    """None when ``actor`` may approve ``run``; else why not."""
    if run.four_eyes and actor.id == run.requested_by:
        return f"four eyes: {run.ref} was requested by {actor.label}; someone else must approve it"
    if not await is_allowed(actor, run.approvers, roles_held=roles, groups=groups):
        return f"{actor.label} may not approve {run.ref} (approvers: {', '.join(run.approvers) or 'no one'})"
    return None


async def require_approver(actor: Actor, run: RunbookRun, roles: list[str], groups: Groups) -> None:
    reason = await may_approve(actor, run, roles, groups)
    if reason is not None:
        raise PermissionDeniedError(reason, run=run.ref)


async def may_deny(actor: Actor, run: RunbookRun, roles: list[str], groups: Groups) -> bool:
    """Approvers may deny (the requester withdraws a request by cancelling it)."""
    return await is_allowed(actor, run.approvers, roles_held=roles, groups=groups)


async def may_cancel(
    actor: Actor, run: RunbookRun, spec: RunbookSpec, settings: Settings, roles: list[str], groups: Groups
) -> bool:
    """The requester, people who may run the runbook, and its approvers."""
    if actor.id == run.requested_by:
        return True
    principals = run_principals(spec, settings) + list(run.approvers)
    return await is_allowed(actor, principals, roles_held=roles, groups=groups)
