"""``runtime.chat``: the chat delivery pieces one running bot shares.

Built once per runtime: Slack when ``slack.bot_token`` is set, the console adapter otherwise;
the outbox worker is a runtime component (started and stopped with the app).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry

from bot.chat.groups import ConsoleGroups, SlackGroups
from bot.chat.metrics import ChatMetrics
from bot.chat.outbox import OutboxHooks
from bot.chat.senders import ChatSender, build_sender
from bot.chat.settings import SlackSettings
from bot.chat.worker import OutboxWorker
from bot.db import Database


class ChatGroups(Protocol):
    """A ``bot.permissions.GroupResolver`` that can also mention a group in a message."""

    async def members(self, group: str) -> set[str]: ...

    async def mention(self, group: str) -> str: ...


@dataclass
class Chat:
    settings: SlackSettings
    hooks: OutboxHooks
    sender: ChatSender
    groups: ChatGroups
    worker: OutboxWorker
    metrics: ChatMetrics

    @property
    def configured(self) -> bool:
        """Slack credentials are present (``sender`` is Slack, not the console)."""
        return self.settings.configured


def build_chat(
    settings: SlackSettings,
    db: Database,
    registry: CollectorRegistry,
    known_groups: Callable[[], Iterable[str]] = tuple,
) -> Chat:
    """``known_groups``: the user groups the configuration names (the console chat knows them)."""
    hooks = OutboxHooks()
    sender = build_sender(settings, known_groups)
    metrics = ChatMetrics(registry)
    worker = OutboxWorker(db, sender, hooks, settings.outbox, metrics)
    db.commit_hooks.append(worker.on_commit)
    groups: ChatGroups = SlackGroups(sender) if settings.configured else ConsoleGroups()
    return Chat(settings=settings, hooks=hooks, sender=sender, groups=groups, worker=worker, metrics=metrics)
