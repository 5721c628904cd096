"""Who is acting, and through which door. Every service call takes an Actor."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Interface(StrEnum):
    SLACK = "slack"
    API = "api"
    CLI = "cli"
    SYSTEM = "system"


ActorKind = Literal["person", "token", "system"]


@dataclass(frozen=True)
class Actor:
    #: A stable id: a Slack user id (U123), ``token:<name>``, a CLI user, or ``incident-bot``.
    id: str
    kind: ActorKind
    interface: Interface
    #: Display name when known (e.g. a Slack real name).
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.id


SYSTEM = Actor(id="incident-bot", kind="system", interface=Interface.SYSTEM)


def cli_actor(user: str) -> Actor:
    return Actor(id=user, kind="person", interface=Interface.CLI)
