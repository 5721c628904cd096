"""Who is at the command line (``--as``, else the OS user), and the authorization they meet.

The CLI reaches the database directly, so it is trusted as far as the database's credentials
are; ``--as`` names the principal whose permissions apply, exactly as Slack and the API apply
them. With ``people:`` configured it must name one of them (an id or one of their ``cli``
logins).
"""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.auth.actor import Actor
from bot.authz.policy import Authorizer
from bot.chat.groups import ConsoleGroups, SlackGroups
from bot.chat.senders import build_sender
from bot.cli.common import database, fail, load, state
from bot.db import Database
from bot.errors import InputError
from bot.runtime import build_authorizer


def actor() -> Actor:
    """The principal of this command, or exit 2 with one line saying why not."""
    try:
        return build_authorizer(load()).directory.cli_user(state.user or getpass.getuser())
    except InputError as exc:
        raise fail(exc) from None


@asynccontextmanager
async def services() -> AsyncIterator[tuple[Database, Authorizer]]:
    """The database and the authorizer (with Slack's user groups when Slack is configured)."""
    settings = load()
    sender = build_sender(settings.slack)
    groups = SlackGroups(sender) if settings.slack.configured else ConsoleGroups()
    try:
        async with database() as db:
            yield db, build_authorizer(settings, groups)
    finally:
        await sender.close()
