"""What the Slack handlers share: the runtime and the background work."""

from __future__ import annotations

from dataclasses import dataclass

from bot.authz.policy import Authorizer
from bot.config import Settings
from bot.db import Database
from bot.runtime import Runtime
from bot.slack.work import BackgroundWork


@dataclass
class SlackDeps:
    runtime: Runtime
    work: BackgroundWork

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def authz(self) -> Authorizer:
        return self.runtime.authz

    @property
    def settings(self) -> Settings:
        return self.runtime.settings
