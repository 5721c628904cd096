"""Who is acting, and through which door. Every flow takes an Actor: the principal.

A principal is one of three kinds (``bot.authz.people.Directory`` builds them from what a door
knows):

- a **person**: configured under ``people:`` (id ``alice``), or a chat user the config does not
  list (their Slack user id ``U0123``), or a command-line user the config does not list (their
  login). A configured person is the same principal through every door: Slack, their API
  tokens, the command line.
- a **token**: an API token no person claims (``token:<name>``): automation.
- the **bot** itself (``incident-bot``) and its routing rules (``rule:<name>``).

``id`` is stable and is what the audit log, the timeline, role assignments, run requests and
approvals record; ``name`` is for people to read and never decides anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Interface(StrEnum):
    SLACK = "slack"
    API = "api"
    CLI = "cli"
    WEBHOOK = "webhook"
    SYSTEM = "system"


#: ``anonymous``: a request whose credentials failed (only ever written to the audit log).
ActorKind = Literal["person", "token", "system", "anonymous"]


@dataclass(frozen=True)
class Actor:
    #: The stable principal id: a person id (``alice``), an unlisted Slack user id (``U123``)
    #: or CLI login, ``token:<name>``, ``incident-bot`` or ``rule:<name>``.
    id: str
    kind: ActorKind
    interface: Interface
    #: Display name when known (a configured name, a Slack user name). Never matched.
    name: str | None = None
    #: The API token this request came with (a person's own token, or the token principal).
    token: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def is_person(self) -> bool:
        return self.kind == "person"

    @property
    def is_bot(self) -> bool:
        return self.kind == "system"


SYSTEM = Actor(id="incident-bot", kind="system", interface=Interface.SYSTEM)
