"""What the Slack handlers share: the runtime, the background work and the permission guard."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.db import Database
from bot.runtime import Runtime
from bot.slack.middleware import Guard
from bot.slack.work import BackgroundWork


@dataclass
class SlackDeps:
    runtime: Runtime
    work: BackgroundWork
    guard: Guard

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def settings(self) -> Settings:
        return self.runtime.settings
