"""SlackSender (slack_sdk's AsyncWebClient against the fake Web API) and ConsoleSender."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from bot.chat.senders import ChatRateLimitedError, ConsoleSender, SlackSender, build_sender
from bot.chat.settings import SlackSettings
from bot.errors import RejectedIntegrationError, RetryableIntegrationError
from tests.chat.conftest import fast_outbox
from tests.fakes.slack_api import DEFAULT_TOKEN, FakeSlack, FakeSlackServer


@pytest.fixture
async def sender(slack_settings: SlackSettings) -> AsyncIterator[SlackSender]:
    sender = SlackSender(slack_settings)
    yield sender
    await sender.close()


def test_build_sender_follows_credentials(slack_settings: SlackSettings) -> None:
    assert isinstance(build_sender(slack_settings), SlackSender)
    assert isinstance(build_sender(SlackSettings()), ConsoleSender)


async def test_calls_are_encoded_by_the_sdk(fake_slack: FakeSlack, sender: SlackSender) -> None:
    created = await sender.call("conversations.create", {"name": "inc-1-model"})
    channel = created["channel"]["id"]
    posted = await sender.call(
        "chat.postMessage", {"channel": channel, "text": "hi", "blocks": [{"type": "divider"}]}
    )
    members = await sender.call("usergroups.users.list", {"usergroup": "S1"})
    assert posted["ok"] and members["users"] == ["U1", "U2"]
    assert [(c.method, c.encoding) for c in fake_slack.calls] == [
        ("conversations.create", "query"),
        ("chat.postMessage", "json"),
        ("usergroups.users.list", "query"),
    ]
    assert fake_slack.channel_messages(channel)[0]["blocks"] == [{"type": "divider"}]


async def test_ok_false_is_an_answer_not_an_exception(sender: SlackSender) -> None:
    await sender.call("conversations.create", {"name": "inc-2"})
    assert await sender.call("conversations.create", {"name": "inc-2"}) == {
        "ok": False,
        "error": "name_taken",
    }


async def test_short_429_is_retried_by_the_sdk_handler(fake_slack: FakeSlack, sender: SlackSender) -> None:
    channel = fake_slack.add_channel("inc-3")
    fake_slack.rate_limit("chat.postMessage", retry_after=0)
    assert (await sender.call("chat.postMessage", {"channel": channel, "text": "x"}))["ok"]
    assert [c.status for c in fake_slack.calls] == [429, 200]


async def test_long_or_repeated_429_surfaces_with_retry_after(
    fake_slack: FakeSlack, sender: SlackSender
) -> None:
    channel = fake_slack.add_channel("inc-4")
    fake_slack.rate_limit("chat.postMessage", retry_after=30)
    with pytest.raises(ChatRateLimitedError) as err:
        await sender.call("chat.postMessage", {"channel": channel, "text": "x"})
    assert err.value.retry_after_s == 30 and err.value.status == 429
    fake_slack.rate_limit("chat.postMessage", retry_after=0, count=2)
    with pytest.raises(ChatRateLimitedError):
        await sender.call("chat.postMessage", {"channel": channel, "text": "x"})
    assert [c.status for c in fake_slack.calls] == [429, 429, 429]


async def test_outages_are_retryable(
    fake_slack: FakeSlack, slack_server: FakeSlackServer, sender: SlackSender
) -> None:
    with fake_slack.outage(), pytest.raises(RetryableIntegrationError, match="HTTP 503") as err:
        await sender.call("auth.test", {})
    assert slack_server.api_url in str(err.value)
    with (
        slack_server.refusing_connections(),
        pytest.raises(RetryableIntegrationError, match=r"auth\.test failed"),
    ):
        await sender.call("auth.test", {})
    assert (await sender.call("auth.test", {}))["ok"]


async def test_rejections(fake_slack: FakeSlack, sender: SlackSender) -> None:
    fake_slack.fail_next(status=400)
    with pytest.raises(RejectedIntegrationError, match="HTTP 400"):
        await sender.call("auth.test", {})
    with pytest.raises(RejectedIntegrationError, match="does not take these arguments"):
        await sender.call("chat.getPermalink", {"channel": "C1"})  # message_ts is required
    with pytest.raises(RejectedIntegrationError, match="not a method the bot knows"):
        await sender.call("admin.users.remove", {})


async def test_token_never_in_errors_or_logs(
    fake_slack: FakeSlack, slack_server: FakeSlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sender = SlackSender(
        SlackSettings(bot_token=DEFAULT_TOKEN, api_url=slack_server.api_url, outbox=fast_outbox())
    )
    messages = []
    fake_slack.tokens = {"xoxb-another"}
    messages.append(str(await sender.call("auth.test", {})))
    with fake_slack.outage(), pytest.raises(RetryableIntegrationError) as err:
        await sender.call("auth.test", {})
    messages.append(str(err.value))
    await sender.close()
    assert "invalid_auth" in messages[0]
    assert DEFAULT_TOKEN not in caplog.text + "".join(messages) + repr(sender.__dict__)


async def test_console_answers_like_slack(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.chat.console")
    console = ConsoleSender()
    created = await console.call("conversations.create", {"name": "inc-1-x"})
    assert created == {
        "ok": True,
        "channel": {"id": "CONSOLE1", "name": "inc-1-x", "is_channel": True, "is_member": True},
    }
    assert await console.call("conversations.create", {"name": "inc-1-x"}) == {
        "ok": False,
        "error": "name_taken",
    }
    posted = await console.call("chat.postMessage", {"channel": "CONSOLE1", "text": "card"})
    assert posted["ok"] and posted["ts"] == "2.000" and posted["channel"] == "CONSOLE1"
    assert (await console.call("users.lookupByEmail", {"email": "a@b.c"}))["error"] == "users_not_found"
    assert (await console.call("usergroups.users.list", {"usergroup": "S1"}))["users"] == []
    assert "chat chat.postMessage CONSOLE1: card" in caplog.text
    with pytest.raises(RejectedIntegrationError):
        await console.call("files.upload", {})
