"""``authorize(principal, action, target)``: the one place that says who may do what.

Every flow (incident, runbook, silence, token, chat, audit) calls ``Authorizer.authorize``
inside its transaction, with the target rows it locked, so a decision and the change it allows
see the same state. A refusal raises ``RefusedError`` (a ``PermissionDeniedError``: 403 on REST,
exit 2 on the CLI, an ephemeral answer in Slack) that names the rule and who may do it instead;
``Authorizer.audited`` writes it to the audit log once the flow's transaction has rolled back,
so every door leaves the same entry (action ``authz.refused``).

Fixed rules on top of the ``permissions:`` lists:

- the bot and its routing rules may do everything but approve and deny;
- roles are held by people: never by a token, the bot or a group;
- only people approve, and with four eyes never the person who asked (a person is one
  principal through every door, so their API token is them too);
- a token that acts for a person is created by that person only.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.audit.service import audit
from bot.auth.actor import Actor
from bot.authz.actions import NOT_FOR_THE_BOT, Action
from bot.authz.people import BOT_IDS, Directory
from bot.db import Database
from bot.errors import NotFoundError, PermissionDeniedError
from bot.incident import service as incident_service
from bot.incident.domain import Role
from bot.incident.models import Incident
from bot.permissions import GroupResolver, NoGroups, PermissionSettings

log = logging.getLogger(__name__)

REFUSED = "authz.refused"


@dataclass(frozen=True)
class RunFacts:
    """What the rules need to know about a run (its approval policy was fixed at request)."""

    ref: str
    runbook: str
    requested_by: str
    approvers: tuple[str, ...]
    #: Who may start the runbook: its ``run_by``, else ``permissions.run_runbooks``.
    run_by: tuple[str, ...]
    four_eyes: bool
    #: Set while the approval asked for is that of an undo: who asked for the undo.
    undo_requester: str | None = None

    @property
    def asked_by(self) -> str:
        """Whoever asked for what awaits approval (the run, or its undo)."""
        return self.undo_requester or self.requested_by


@dataclass(frozen=True)
class Target:
    """What an action is about. ``type``/``id`` name it in the audit log."""

    type: str
    id: str
    incident: Incident | None = None
    run: RunFacts | None = None
    #: RUN and DRY_RUN of a runbook: who may start it (``run_by`` or the setting).
    run_by: tuple[str, ...] | None = None
    role: Role | None = None
    #: ASSIGN_ROLE: the principal id the role would go to.
    assignee: str | None = None
    #: TOKEN_*: the person a token name acts for, if any.
    token_owner: str | None = None
    details: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_incident(
        cls,
        incident: Incident,
        *,
        role: Role | None = None,
        assignee: str | None = None,
        details: dict[str, str] | None = None,
    ) -> Target:
        return cls(
            "incident", incident.ref, incident=incident, role=role, assignee=assignee, details=details or {}
        )


class RefusedError(PermissionDeniedError):
    """Refused by a rule; says which rule and who may do it instead."""

    def __init__(self, actor: Actor, action: Action, target: Target, reason: str, *, who: str, rule: str):
        super().__init__(reason, hint=f"allowed: {who} ({rule})", action=action.value, rule=rule)
        self.actor = actor
        self.action = action
        self.target = target
        self.who = who
        self.rule = rule
        # Read now: after the flow's rollback the incident row is expired.
        self.incident_id = target.incident.id if target.incident is not None else None


_Refuse = Callable[[str, str, str], RefusedError]


class Authorizer:
    def __init__(
        self,
        permissions: PermissionSettings,
        directory: Directory | None = None,
        groups: GroupResolver | None = None,
    ) -> None:
        self.permissions = permissions
        self.directory = directory or Directory()
        self.chat_groups = groups or NoGroups()

    # -- the decision ----------------------------------------------------------------------

    async def authorize(self, session: AsyncSession, actor: Actor, action: Action, target: Target) -> None:
        """Return if ``actor`` may do ``action`` on ``target``; else raise ``RefusedError``."""
        refusal = await self._refusal(session, actor, action, target)
        if refusal is not None:
            raise refusal

    async def allows(self, session: AsyncSession, actor: Actor, action: Action, target: Target) -> bool:
        return await self._refusal(session, actor, action, target) is None

    async def _refusal(
        self, session: AsyncSession, actor: Actor, action: Action, target: Target
    ) -> RefusedError | None:
        def refuse(reason: str, who: str, rule: str) -> RefusedError:
            return RefusedError(actor, action, target, reason, who=who, rule=rule)

        if action == Action.ASSIGN_ROLE and not is_person_id(target.assignee or ""):
            return refuse(
                f"roles are held by people: {target.assignee} is not a person",
                "a person (a configured id, a Slack user, an e-mail)",
                "roles are people's",
            )
        if actor.is_bot:
            if action in NOT_FOR_THE_BOT:
                return refuse(
                    f"the bot does not {action.verb} runs: that is a person's decision",
                    "people named as approvers",
                    "approvals are people's",
                )
            return None
        if actor.kind == "anonymous":
            return refuse("unauthenticated requests may do nothing", "no one", "authentication")
        if action == Action.ASSIGN_ROLE:
            return await self._assign_role(session, actor, target, refuse)
        principals = self._principals(action, target)
        setting = f"permissions.{action.setting}"
        run = target.run
        if action == Action.APPROVE:
            assert run is not None
            setting = "the run's approvers"
            if not actor.is_person:
                return refuse(
                    f"{actor.label} is an API token: only people approve runs",
                    self.describe(principals),
                    "approvals are people's",
                )
            if run.four_eyes and actor.id == run.asked_by:
                what = f"the undo of {run.ref}" if run.undo_requester else run.ref
                return refuse(
                    f"four eyes: {what} was requested by {actor.label}; someone else must approve it",
                    "another of " + self.describe(principals),
                    "four eyes",
                )
        elif action == Action.DENY:
            setting = "the run's approvers"
        elif action == Action.CANCEL:
            assert run is not None
            if actor.id == run.asked_by:
                return None
            setting = "the requester, the runbook's runners and approvers"
        elif (action == Action.RUN and target.run_by is not None) or (action == Action.UNDO and run):
            setting = "the runbook's run_by, else permissions.run_runbooks"
        elif action == Action.TOKEN_CREATE and target.token_owner not in (None, actor.id):
            owner = self.directory.label(target.token_owner or "")
            return refuse(
                f"token {target.id!r} acts for {owner}: only they may create it",
                owner,
                f"people.{target.token_owner}.tokens",
            )
        elif action == Action.TOKEN_REVOKE and target.token_owner == actor.id:
            return None
        if await self.matches(session, actor, principals, target.incident):
            return None
        return refuse(
            f"{actor.label} may not {action.verb} {self._what(action, target)}".rstrip(),
            self.describe(principals),
            setting,
        )

    def _principals(self, action: Action, target: Target) -> list[str]:
        run = target.run
        if action in (Action.APPROVE, Action.DENY) and run is not None:
            return list(run.approvers)
        if action == Action.CANCEL and run is not None:
            return [*run.run_by, *run.approvers]
        if action in (Action.RUN, Action.UNDO) and run is not None:
            return list(run.run_by)
        if action == Action.RUN and target.run_by is not None:
            return list(target.run_by)
        return list(getattr(self.permissions, action.setting))

    @staticmethod
    def _what(action: Action, target: Target) -> str:
        """The target as the refusal names it ("INC-4", "RUN-2", "runbook rollback-model")."""
        if target.id == "(new)" or target.type in ("audit", "chat_message"):
            return ""
        if target.type == "token":
            return f"token {target.id!r}"
        if target.type in ("silence", "runbook"):
            return f"{target.type} {target.id}"
        return target.id

    async def _assign_role(
        self, session: AsyncSession, actor: Actor, target: Target, refuse: _Refuse
    ) -> RefusedError | None:
        incident, role, assignee = target.incident, target.role, target.assignee or ""
        assert incident is not None and role is not None
        if await self.matches(session, actor, self.permissions.assign_roles, incident):
            return None
        assert incident.id is not None
        holder = (await incident_service.current_roles(session, incident.id)).get(role)
        taking = actor.is_person and assignee == actor.id
        if (
            taking
            and holder is None
            and await self.matches(session, actor, self.permissions.take_empty_roles, incident)
        ):
            return None
        why = f"{actor.label} may not assign the {role.value} role on {incident.ref}"
        if taking and holder is not None:
            who = self.directory.label(holder.assignee)
            why = f"{actor.label} may not take the {role.value} role of {incident.ref}: {who} holds it"
        return refuse(
            why,
            self.describe(self.permissions.assign_roles)
            + "; for themselves while it is empty: "
            + self.describe(self.permissions.take_empty_roles),
            "permissions.assign_roles, permissions.take_empty_roles",
        )

    # -- matching principals ---------------------------------------------------------------

    async def matches(
        self, session: AsyncSession, actor: Actor, principals: Iterable[str], incident: Incident | None
    ) -> bool:
        """Whether ``actor`` is one of ``principals`` (see ``bot.permissions``). The bot is
        matched by no list: its rules are fixed above."""
        if actor.kind not in ("person", "token"):
            return False
        handles = self.directory.handles(actor)
        groups: list[str] = []
        for principal in principals:
            if principal == "*":
                return True
            if principal == "admins":
                if await self.matches(session, actor, self.permissions.admins, incident):
                    return True
            elif principal == "responders":
                if (
                    incident is not None
                    and actor.is_person
                    and await self._responder(actor, handles, incident)
                ):
                    return True
            elif principal.startswith("role:"):
                if (
                    incident is not None
                    and actor.is_person
                    and await _holds(session, actor, principal[5:], incident)
                ):
                    return True
            elif principal.startswith("@"):
                groups.append(principal)
            elif principal in handles or self.directory.canonical(principal) == actor.id:
                return True
        for group in groups:  # last: a chat group may cost a call to Slack
            if await self.in_group(group, actor, handles):
                return True
        return False

    async def in_group(self, group: str, actor: Actor, handles: set[str] | None = None) -> bool:
        handles = handles if handles is not None else self.directory.handles(actor)
        if actor.id in self.directory.groups.get(group, set()) or handles & self.directory.groups.get(
            group, set()
        ):
            return True
        try:
            members = await self.chat_groups.members(group)
        except NotFoundError as exc:
            log.info("permissions: %s: %s", group, exc.message)
            return False
        return bool(handles & members)

    async def _responder(self, actor: Actor, handles: set[str], incident: Incident) -> bool:
        for entry in incident.responders:
            if entry.startswith("@"):
                if await self.in_group(entry, actor, handles):
                    return True
            elif entry in handles or self.directory.canonical(entry) == actor.id:
                return True
        return False

    def describe(self, principals: Iterable[str]) -> str:
        """Principals as people read them: "the commander, @ml-oncall, Alice Martin"."""
        words = []
        for principal in principals:
            if principal == "*":
                words.append("anyone")
            elif principal == "admins":
                admins = ", ".join(self.permissions.admins) or "none configured"
                words.append(f"admins ({admins})")
            elif principal == "responders":
                words.append("the incident's responders")
            elif principal.startswith("role:"):
                words.append(f"the {principal[5:]}")
            else:
                words.append(self.directory.label(self.directory.canonical(principal)))
        return ", ".join(dict.fromkeys(words)) or "no one"

    # -- auditing refusals -------------------------------------------------------------------

    @asynccontextmanager
    async def audited(self, db: Database) -> AsyncIterator[None]:
        """Around a flow's transaction: a ``RefusedError`` raised inside is written to the audit
        log (after the flow's rollback, in its own transaction) and raised again."""
        try:
            yield
        except RefusedError as exc:
            await self.record_refusal(db, exc)
            raise

    async def record_refusal(self, db: Database, exc: RefusedError) -> None:
        async with db.transaction() as session:
            audit(
                session,
                exc.actor,
                REFUSED,
                target_type=exc.target.type,
                target_id=exc.target.id,
                incident_id=exc.incident_id,
                details={
                    "action": exc.action.value,
                    "reason": exc.message,
                    "rule": exc.rule,
                    "allowed": exc.who,
                    **exc.target.details,
                },
            )
        log.info("refused %s to %s on %s: %s", exc.action.value, exc.actor.id, exc.target.id, exc.message)


def is_person_id(principal: str) -> bool:
    """Whether a principal id can be a person (not a token, the bot, a rule or a group)."""
    text = principal.strip()
    return bool(text) and ":" not in text and not text.startswith("@") and text not in BOT_IDS


async def _holds(session: AsyncSession, actor: Actor, role: str, incident: Incident) -> bool:
    assert incident.id is not None
    holder = (
        (await incident_service.current_roles(session, incident.id)).get(Role(role))
        if role in ROLES
        else None
    )
    return holder is not None and holder.assignee == actor.id


ROLES = frozenset(r.value for r in Role)
