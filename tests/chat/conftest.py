"""Fixtures of the chat tests: a fake Slack workspace served over HTTP and settings for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.chat.settings import OutboxSettings, SlackSettings
from tests.fakes.slack_api import DEFAULT_TOKEN, FakeSlack, FakeSlackServer, serve_fake_slack


@pytest.fixture
def fake_slack() -> FakeSlack:
    fake = FakeSlack()
    fake.add_user("U1", "ada", email="ada@example.com")
    fake.add_user("U2", "grace", email="grace@example.com")
    fake.add_usergroup("S1", "ml-oncall", ["U1", "U2"])
    return fake


@pytest.fixture
def slack_server(fake_slack: FakeSlack) -> Iterator[FakeSlackServer]:
    with serve_fake_slack(fake_slack) as server:
        yield server


def fast_outbox(**overrides: float) -> OutboxSettings:
    """Pacing and backoff shrunk so tests run in fractions of a second."""
    values: dict[str, float] = {
        "per_channel_interval_s": 0.0,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
        "poll_interval_s": 0.05,
        "lease_s": 5.0,
        "max_attempts": 50,
        "call_timeout_s": 5,
        "sdk_max_retry_wait_s": 1.0,
    }
    values.update(overrides)
    return OutboxSettings.model_validate(values)


@pytest.fixture
def slack_settings(slack_server: FakeSlackServer) -> SlackSettings:
    return SlackSettings(bot_token=DEFAULT_TOKEN, api_url=slack_server.api_url, outbox=fast_outbox())
