"""The objects a running bot shares: built once by ``create_app`` (or the CLI) and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.audit.failures import AuthFailures
from bot.authz.people import Directory
from bot.authz.policy import Authorizer
from bot.chat.runtime import Chat, build_chat
from bot.config import Settings
from bot.db import Database
from bot.events import EventBus
from bot.permissions import GroupResolver
from bot.reminder.jobs import ReminderScheduler
from bot.runbook.loader import Catalog
from bot.web.metrics import Metrics
from integrations.base import ActionRegistry
from integrations.wiring import Integrations, build_integrations


class Component(Protocol):
    """A background part of the bot started and stopped with the web app."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    db: Database
    bus: EventBus = field(default_factory=EventBus)
    metrics: Metrics = field(default_factory=Metrics)
    components: list[Component] = field(default_factory=list)
    #: Configured ML-platform instances and every runbook action (integrations + built-ins).
    integrations: Integrations = field(default_factory=lambda: Integrations(ActionRegistry()))
    #: Chat delivery: outbox hooks, sender (Slack or console), user groups (bot/chat/runtime.py).
    chat: Chat = field(init=False)
    #: Who may do what (bot/authz): the one authorization every flow calls.
    authz: Authorizer = field(init=False)
    #: Failed authentications, audited at a bounded rate per source.
    auth_failures: AuthFailures = field(init=False)

    def __post_init__(self) -> None:
        self.chat = build_chat(
            self.settings.slack, self.db, self.metrics.registry, known_groups=self.configured_groups
        )
        self.authz = build_authorizer(self.settings, self.chat.groups)
        self.auth_failures = AuthFailures(self.db)

    def configured_groups(self) -> set[str]:
        """User groups (@handles) the configuration and the runbooks name: responders, the
        on-call group, permission and approval principals."""
        alerts = self.settings.alerts
        principals = [
            *(p for rule in [*alerts.routes, alerts.default_route] for p in rule.responders),
            *alerts.storm.responders,
            *([self.settings.slack.oncall_group] if self.settings.slack.oncall_group else []),
            *(p for principals in self.settings.permissions.model_dump().values() for p in principals),
            *self.settings.groups,
            *self.settings.runbooks.approver_groups,
        ]
        # A catalog of its own: asking must not fix the runtime's catalog to today's actions.
        for runbook in Catalog(self.settings.runbooks_path, self.actions).runbooks():
            principals += [*runbook.spec.approval.approvers, *runbook.spec.run_by]
        return {p for p in principals if p.startswith("@") and len(p) > 1}

    _runbooks: Catalog | None = field(default=None, init=False, repr=False)

    @property
    def actions(self) -> ActionRegistry:
        return self.integrations.actions

    @property
    def runbook_catalog(self) -> Catalog:
        """The runbook folder, parsed once per file version (re-read when a file changes)."""
        if self._runbooks is None:
            self._runbooks = Catalog(self.settings.runbooks_path, self.actions)
        return self._runbooks

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        runtime = cls(
            settings=settings,
            db=Database(settings.database_url),
            integrations=build_integrations(settings.integrations),
        )
        runtime.db.commit_hooks.append(runtime.bus.publish)
        runtime.components.append(runtime.chat.worker)
        runtime.components.append(ReminderScheduler.for_runtime(runtime))
        return runtime


def build_authorizer(settings: Settings, chat_groups: GroupResolver | None = None) -> Authorizer:
    """People and groups from the config (``runbooks.approver_groups`` counts as groups too),
    with the chat's user groups behind them."""
    groups: dict[str, list[str]] = {}
    for source in (settings.runbooks.approver_groups, settings.groups):
        for name, members in source.items():
            groups.setdefault(name, []).extend(members)
    return Authorizer(settings.permissions, Directory(settings.people, groups), chat_groups)
