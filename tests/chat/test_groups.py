"""User groups from Slack (usergroups.list / usergroups.users.list) with a short cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.auth.actor import Actor, Interface
from bot.authz.policy import Authorizer
from bot.chat.groups import ConsoleGroups, SlackGroups
from bot.chat.senders import SlackSender
from bot.chat.settings import SlackSettings
from bot.errors import NotFoundError, RetryableIntegrationError
from bot.permissions import PermissionSettings
from tests.fakes.slack_api import FakeSlack, FakeSlackServer


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def sender(slack_settings: SlackSettings) -> AsyncIterator[SlackSender]:
    sender = SlackSender(slack_settings)
    yield sender
    await sender.close()


async def test_members_by_handle_or_id_are_cached(fake_slack: FakeSlack, sender: SlackSender) -> None:
    clock = Clock()
    groups = SlackGroups(sender, ttl_s=60, clock=clock)
    assert await groups.members("@ml-oncall") == {"U1", "U2"}
    assert await groups.members("ml-oncall") == {"U1", "U2"}
    assert await groups.members("S1") == {"U1", "U2"}
    assert [c.method for c in fake_slack.calls] == ["usergroups.list", "usergroups.users.list"]
    assert fake_slack.calls[1].args == {"usergroup": "S1"}
    fake_slack.usergroups["S1"]["users"] = ["U1"]
    clock.now = 61
    assert await groups.members("@ml-oncall") == {"U1"}
    assert [c.method for c in fake_slack.calls][2:] == ["usergroups.list", "usergroups.users.list"]


async def test_stale_answer_during_an_outage_then_failure(
    fake_slack: FakeSlack,
    slack_server: FakeSlackServer,
    sender: SlackSender,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    groups = SlackGroups(sender, ttl_s=60, stale_s=600, clock=clock)
    assert await groups.members("S1") == {"U1", "U2"}
    clock.now = 120
    with fake_slack.outage():
        assert await groups.members("S1") == {"U1", "U2"}
        assert "old answer" in caplog.text
        clock.now = 1000
        with pytest.raises(RetryableIntegrationError, match="HTTP 503"):
            await groups.members("S1")


async def test_unknown_groups_fail_loudly(fake_slack: FakeSlack, sender: SlackSender) -> None:
    groups = SlackGroups(sender)
    with pytest.raises(NotFoundError, match="@sre-oncall does not exist"):
        await groups.members("@sre-oncall")
    with pytest.raises(RetryableIntegrationError, match="no_such_subteam"):
        await groups.members("S404")


async def test_mentions(fake_slack: FakeSlack, sender: SlackSender) -> None:
    groups = SlackGroups(sender)
    assert await groups.mention("@ml-oncall") == "<!subteam^S1>"
    assert await groups.mention("@nobody") == "@nobody"
    console = ConsoleGroups()
    assert (
        await console.mention("@ml-oncall") == "@ml-oncall" and await console.members("@ml-oncall") == set()
    )


async def test_group_principals_in_permissions(sender: SlackSender) -> None:
    authz = Authorizer(PermissionSettings(resolve=["@ml-oncall"]), groups=SlackGroups(sender))
    ada = Actor(id="U1", kind="person", interface=Interface.SLACK)
    assert await authz.matches(_NO_SESSION, ada, ["@ml-oncall"], None)
    stranger = Actor(id="U9", kind="person", interface=Interface.SLACK)
    assert not await authz.matches(_NO_SESSION, stranger, ["@ml-oncall"], None)
    assert not await authz.matches(_NO_SESSION, ada, ["@no-such-group"], None)  # logged, not a member


#: Group principals need no database (no role or incident is involved).
_NO_SESSION: Any = None
