"""People, configured once, and the directory every door resolves its caller through.

    people:
      - id: alice                  # the stable id: audit log, timeline, roles, approvals
        name: Alice Martin         # shown to people; never matched
        slack: U01ALICE            # her Slack user id
        email: alice@example.com
        cli: [alice, amartin]      # logins for `incident-bot --as` (and the OS user)
        tokens: [alice-laptop]     # API tokens that act for her
    groups:
      "@ml-leads": [alice, U01BOB]  # person ids, Slack user ids, e-mails or CLI logins

A person reaches the bot through Slack, their tokens and the command line, and is one
principal through all of them. Anyone the config does not list is still someone: a Slack user
is known by their user id, a CLI user by their login, an API token by ``token:<name>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.auth.actor import Actor, Interface
from bot.errors import InputError

PERSON_ID = r"^[a-z][a-z0-9._-]{0,62}$"
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: Principal ids the bot gives itself and its automation: no person may have them.
BOT_IDS = ("incident-bot",)


class Person(BaseModel):
    """One person of the ``people:`` list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=PERSON_ID)
    name: str | None = Field(default=None, max_length=200)
    slack: str | None = None
    email: str | None = None
    cli: list[str] = Field(default_factory=list)
    tokens: list[str] = Field(default_factory=list)

    @field_validator("slack")
    @classmethod
    def _slack_id(cls, value: str | None) -> str | None:
        if value is not None and not SLACK_USER.match(value):
            raise ValueError(f"{value!r} is not a Slack user id like U01ABCDEF (Profile → Copy member ID)")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and (value.count("@") != 1 or value.startswith("@") or value.endswith("@")):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value.lower() if value else value

    @field_validator("cli")
    @classmethod
    def _logins(cls, value: list[str]) -> list[str]:
        for login in value:
            if not LOGIN.match(login):
                raise ValueError(f"{login!r} is not a login name (letters, digits, . _ -)")
        return value

    @property
    def label(self) -> str:
        return self.name or self.id

    def handles(self) -> set[str]:
        """Every string that names this person in a config list (never the display name)."""
        return {self.id, *self.cli, *(h for h in (self.slack, self.email) if h)}


def check_people(people: list[Person], groups: dict[str, list[str]]) -> None:
    """Each handle names one person; group names start with @; raises ValueError."""
    owner: dict[str, str] = {}
    for person in people:
        if person.id in BOT_IDS:
            raise ValueError(f"people: {person.id!r} is the bot's own id")
        named = [*person.handles(), *(f"token:{t}" for t in person.tokens)]
        for handle in named:
            other = owner.setdefault(handle, person.id)
            if other != person.id:
                raise ValueError(f"people: {handle!r} is given for both {other!r} and {person.id!r}")
    for name in groups:
        if not name.startswith("@") or len(name) < 2:
            raise ValueError(f"groups: {name!r} must start with @, e.g. @ml-leads")


class Directory:
    """Finds the principal behind what a door knows (a Slack user, a token, a login)."""

    def __init__(self, people: Iterable[Person] = (), groups: dict[str, list[str]] | None = None) -> None:
        self.people = {p.id: p for p in people}
        self._by_token = {t: p for p in self.people.values() for t in p.tokens}
        # ``token:<name>`` of a token a person owns names that person: the token is them.
        self._by_handle = {
            **{h: p for p in self.people.values() for h in p.handles()},
            **{f"token:{t}": p for t, p in self._by_token.items()},
        }
        #: Configured groups, members canonical (person ids where the member is a person).
        self.groups = {name: {self.canonical(m) for m in members} for name, members in (groups or {}).items()}

    @property
    def configured(self) -> bool:
        return bool(self.people)

    def find(self, handle: str) -> Person | None:
        """The person a handle names: their id, Slack id, e-mail, a CLI login, or
        ``token:<name>`` of one of their tokens."""
        return self._by_handle.get(handle) or self._by_handle.get(handle.lower())

    def canonical(self, handle: str) -> str:
        """The principal id a handle names (a configured person's id), else the handle itself."""
        person = self.find(handle.strip())
        return person.id if person is not None else handle.strip()

    def handles(self, actor: Actor) -> set[str]:
        """What may name ``actor`` in a list of principals: its id, and a person's handles."""
        person = self.people.get(actor.id) if actor.is_person else None
        return person.handles() if person is not None else {actor.id}

    def owner_of_token(self, name: str) -> Person | None:
        return self._by_token.get(name)

    def slack_id(self, principal: str) -> str | None:
        """The Slack user id to reach a principal at (configured, or a Slack id already)."""
        person = self.people.get(principal)
        if person is not None:
            return person.slack
        return principal if SLACK_USER.match(principal) else None

    def label(self, principal: str) -> str:
        person = self.people.get(principal)
        return person.label if person is not None else principal

    # -- the doors ---------------------------------------------------------------------------

    def slack_user(self, user_id: str, user_name: str | None) -> Actor:
        person = self.find(user_id)
        if person is not None:
            return Actor(id=person.id, kind="person", interface=Interface.SLACK, name=person.label)
        return Actor(id=user_id, kind="person", interface=Interface.SLACK, name=user_name)

    def api_token(self, name: str) -> Actor:
        """The principal of a valid API token: the person who owns it, else the token itself."""
        person = self.owner_of_token(name)
        if person is not None:
            return Actor(id=person.id, kind="person", interface=Interface.API, name=person.label, token=name)
        return Actor(id=f"token:{name}", kind="token", interface=Interface.API, name=name, token=name)

    def cli_user(self, login: str) -> Actor:
        """``--as NAME`` (or the OS user): a configured person when one has that login or id;
        an unlisted login only while no people are configured."""
        login = login.strip()
        person = self.find(login)
        if person is not None:
            return Actor(id=person.id, kind="person", interface=Interface.CLI, name=person.label)
        if self.configured:
            raise InputError(
                f"{login!r} is not one of the configured people",
                hint="say who you are with --as <id or cli login from the people: section>",
            )
        if not LOGIN.match(login) or SLACK_USER.match(login) or login in BOT_IDS:
            raise InputError(f"{login!r} is not a login name", hint="--as takes a name like carol")
        return Actor(id=login, kind="person", interface=Interface.CLI)
