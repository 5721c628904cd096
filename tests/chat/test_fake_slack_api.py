"""The fake Slack Web API, exercised through the production slack_sdk AsyncWebClient."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import DEFAULT_TOKEN, FakeSlack, FakeSlackServer, serve_fake_slack


@pytest.fixture
def fake() -> FakeSlack:
    fake = FakeSlack()
    fake.add_user("U1", "ada", email="ada@example.com", real_name="Ada Lovelace")
    fake.add_user("U2", "grace", email="grace@example.com")
    fake.add_usergroup("S1", "ml-oncall", ["U1", "U2"])
    return fake


@pytest.fixture
def server(fake: FakeSlack) -> Iterator[FakeSlackServer]:
    with serve_fake_slack(fake) as server:
        yield server


@pytest.fixture
def client(server: FakeSlackServer) -> AsyncWebClient:
    return AsyncWebClient(token=DEFAULT_TOKEN, base_url=server.api_url, retry_handlers=[])


async def _error(call: object) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call  # type: ignore[misc]
    return info.value


async def _code(call: object) -> str:
    """The ``error`` of the ``ok: false`` answer the call must get."""
    return str((await _error(call)).response["error"])


async def test_auth_is_checked(server: FakeSlackServer, client: AsyncWebClient) -> None:
    ok = await client.auth_test()
    assert (ok["user_id"], ok["team_id"], ok["bot_id"]) == ("UBOT", "T0FAKE", "BBOT")
    bad = AsyncWebClient(token="xoxb-wrong", base_url=server.api_url)
    assert await _code(bad.auth_test()) == "invalid_auth"
    anonymous = AsyncWebClient(base_url=server.api_url)
    assert await _code(anonymous.auth_test()) == "not_authed"
    assert [c.error for c in server.fake.calls] == [None, "invalid_auth", "not_authed"]
    assert all("token" not in c.args for c in server.fake.calls)


async def test_channel_creation_validates_names(fake: FakeSlack, client: AsyncWebClient) -> None:
    created = await client.conversations_create(name="inc-1-latency")
    channel = created["channel"]
    assert channel["name"] == "inc-1-latency" and channel["id"].startswith("C") and channel["is_member"]
    assert await _code(client.conversations_create(name="inc-1-latency")) == "name_taken"
    assert await _code(client.conversations_create(name="Inc 1")) == "invalid_name_specials"
    assert await _code(client.conversations_create(name="x" * 81)) == "invalid_name_maxlength"
    assert await _code(client.conversations_create(name="--")) == "invalid_name_punctuation"
    assert fake.channel_id("inc-1-latency") == channel["id"]
    # slack_sdk sends conversations.create's arguments in the query string
    assert fake.calls[0].encoding == "query"


async def test_invites_and_membership(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = (await client.conversations_create(name="inc-2"))["channel"]["id"]
    invited = await client.conversations_invite(channel=channel, users=["U1", "U2"])
    assert invited["channel"]["num_members"] == 3
    again = await _error(client.conversations_invite(channel=channel, users="U1"))
    assert again.response["error"] == "already_in_channel"
    unknown = await _error(client.conversations_invite(channel=channel, users="U1,U404"))
    assert unknown.response["error"] == "user_not_found"
    assert unknown.response["errors"] == [{"user": "U404", "ok": False, "error": "user_not_found"}]
    outside = fake.add_channel("general", bot_member=False)
    assert await _code(client.conversations_invite(channel=outside, users="U1")) == "not_in_channel"
    joined = await client.conversations_join(channel=outside)
    assert joined["channel"]["is_member"] and "warning" not in joined.data  # type: ignore[operator]
    rejoined = await client.conversations_join(channel=outside)
    assert rejoined["warning"] == "already_in_channel"
    info = await client.conversations_info(channel=outside)
    assert info["channel"]["name"] == "general"
    assert await _code(client.conversations_info(channel="C404")) == "channel_not_found"


async def test_messages_update_pin_permalink_history(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("inc-3")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*card*"}}]
    posted = await client.chat_postMessage(channel=channel, text="card", blocks=blocks)
    assert posted["channel"] == channel and posted["message"]["blocks"] == blocks
    second = await client.chat_postMessage(channel="#inc-3", text="second")
    assert float(second["ts"]) > float(posted["ts"])
    updated = await client.chat_update(channel=channel, ts=posted["ts"], text="card v2")
    assert updated["text"] == "card v2" and fake.texts(channel) == ["card v2", "second"]
    assert fake.calls[-1].encoding == "json"
    assert await _code(client.chat_update(channel=channel, ts="1.0", text="x")) == "message_not_found"
    await client.pins_add(channel=channel, timestamp=posted["ts"])
    assert await _code(client.pins_add(channel=channel, timestamp=posted["ts"])) == "already_pinned"
    link = await client.chat_getPermalink(channel=channel, message_ts=posted["ts"])
    assert link["permalink"].endswith(f"/archives/{channel}/p{posted['ts'].replace('.', '')}")
    history = await client.conversations_history(channel=channel, limit=1)
    assert [m["text"] for m in history["messages"]] == ["second"] and history["has_more"]
    no_text = await _error(client.api_call("chat.postMessage", json={"channel": channel}))
    assert no_text.response["error"] == "no_text"
    assert await _code(client.chat_postMessage(channel="C404", text="x")) == "channel_not_found"
    outside = fake.add_channel("random", bot_member=False)
    assert await _code(client.chat_postMessage(channel=outside, text="x")) == "not_in_channel"


async def test_form_encoded_body_and_dm(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("inc-4")
    blocks = [{"type": "divider"}]
    answer = await client.api_call(
        "chat.postMessage", data={"channel": channel, "blocks": json.dumps(blocks)}
    )
    assert answer["message"]["blocks"] == blocks and fake.calls[-1].encoding == "form"
    dm = await client.chat_postMessage(channel="U1", text="your checklist")
    assert dm["channel"].startswith("D") and fake.texts("U1") == ["your checklist"]


async def test_ephemeral_topic_bookmark(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("inc-5", members=("U1",))
    eph = await client.chat_postEphemeral(channel=channel, user="U1", text="only you")
    assert eph["message_ts"] and fake.ephemeral[channel][0]["text"] == "only you"
    assert (
        await _code(client.chat_postEphemeral(channel=channel, user="U2", text="x")) == "user_not_in_channel"
    )
    topic = await client.conversations_setTopic(channel=channel, topic="SEV2 · investigating")
    assert topic["channel"]["topic"]["value"] == "SEV2 · investigating"
    mark = await client.bookmarks_add(
        channel_id=channel, title="Runbook", type="link", link="https://x.test/rb"
    )
    assert (
        mark["bookmark"]["link"] == "https://x.test/rb" and fake.bookmarks[channel][0]["title"] == "Runbook"
    )


async def test_users_and_groups(client: AsyncWebClient) -> None:
    found = await client.users_lookupByEmail(email="ADA@example.com")
    assert found["user"]["id"] == "U1"
    assert await _code(client.users_lookupByEmail(email="nobody@example.com")) == "users_not_found"
    assert (await client.users_info(user="U2"))["user"]["name"] == "grace"
    assert await _code(client.users_info(user="U404")) == "user_not_found"
    assert (await client.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]
    assert await _code(client.usergroups_users_list(usergroup="S404")) == "no_such_subteam"
    groups = await client.usergroups_list()
    assert [g["handle"] for g in groups["usergroups"]] == ["ml-oncall"] and "users" not in groups[
        "usergroups"
    ][0]


async def test_views(fake: FakeSlack, client: AsyncWebClient) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Declare"}, "blocks": []}
    trigger = fake.new_trigger_id()
    opened = await client.views_open(trigger_id=trigger, view=view)
    assert opened["view"]["id"].startswith("V")
    assert await _code(client.views_open(trigger_id=trigger, view=view)) == "exchanged_trigger_id"
    assert await _code(client.views_open(trigger_id="bogus", view=view)) == "invalid_trigger_id"
    view_id, view_hash = opened["view"]["id"], opened["view"]["hash"]
    updated = await client.views_update(view_id=view_id, view=view, hash=view_hash)
    assert updated["view"]["hash"] != view_hash
    stale = await _error(client.views_update(view_id=view_id, view=view, hash=view_hash))
    assert stale.response["error"] == "hash_conflict"


async def test_scripted_errors_have_no_effect(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.error_next("conversations.create", "restricted_action")
    assert await _code(client.conversations_create(name="inc-6")) == "restricted_action"
    assert (await client.conversations_create(name="inc-6"))["ok"]
    assert [c.error for c in fake.calls_to("conversations.create")] == ["restricted_action", None]


async def test_rate_limit_answers_429_with_retry_after(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("inc-7")
    fake.rate_limit("chat.postMessage", retry_after=7)
    limited = await _error(client.chat_postMessage(channel=channel, text="x"))
    assert limited.response.status_code == 429 and limited.response.headers["Retry-After"] == "7"
    assert limited.response["error"] == "ratelimited"
    assert (await client.chat_postMessage(channel=channel, text="x"))["ok"]


async def test_sdk_rate_limit_handler_waits_for_retry_after(fake: FakeSlack, server: FakeSlackServer) -> None:
    channel = fake.add_channel("inc-8")
    client = AsyncWebClient(
        token=DEFAULT_TOKEN, base_url=server.api_url, retry_handlers=[AsyncRateLimitErrorRetryHandler(1)]
    )
    fake.rate_limit("chat.postMessage", retry_after=1)
    assert (await client.chat_postMessage(channel=channel, text="after the wait"))["ok"]
    first, second = fake.calls_to("chat.postMessage")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0
    assert fake.texts(channel) == ["after the wait"]


async def test_outage_and_refused_connections(
    fake: FakeSlack, server: FakeSlackServer, client: AsyncWebClient
) -> None:
    channel = fake.add_channel("inc-9")
    with fake.outage():
        down = await _error(client.chat_postMessage(channel=channel, text="x"))
        assert down.response.status_code == 503
    fake.fail_next(2, status=500, method="chat.postMessage")
    for _ in range(2):
        assert (await _error(client.chat_postMessage(channel=channel, text="x"))).response.status_code == 500
    with server.refusing_connections():
        started = time.monotonic()
        with pytest.raises(aiohttp.ClientConnectionError):
            await client.chat_postMessage(channel=channel, text="x")
        assert time.monotonic() - started < 5
    assert (await client.chat_postMessage(channel=channel, text="back"))["ok"]
    assert fake.texts(channel) == ["back"]
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [503, 500, 500, 200]


async def test_unknown_method(client: AsyncWebClient) -> None:
    assert await _code(client.api_call("nope.nothing")) == "unknown_method"
