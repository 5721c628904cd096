"""The ``slack:`` settings section: Slack's own env names, secrets, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from bot.incident.domain import Severity


def test_unconfigured_by_default() -> None:
    slack = load_settings().slack
    assert not slack.configured
    assert slack.api_url == "https://slack.com/api/"
    assert slack.status_reminder_min[Severity.SEV1] == 15
    assert slack.channel_name_pattern == "inc-{number}-{slug}"


def test_slack_env_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-value")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-value")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api")
    settings = load_settings()
    assert settings.slack.configured
    assert settings.slack.api_url == "http://127.0.0.1:9/api/"
    assert settings.slack.bot_token is not None
    assert settings.slack.bot_token.get_secret_value() == "xoxb-secret-value"
    shown = repr(settings) + str(settings.model_dump())
    assert "xoxb-secret-value" not in shown and "signing-secret-value" not in shown


def test_file_and_prefixed_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(
        "slack:\n  broadcast_channel: incidents\n  status_reminder_min: {SEV2: 5}\n"
        "  outbox: {per_channel_interval_s: 0.5}\n"
    )
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-env")
    monkeypatch.setenv("INCIDENT_BOT_SLACK__ONCALL_GROUP", "@ml-oncall")
    slack = load_settings(cfg).slack
    assert slack.broadcast_channel == "incidents" and slack.oncall_group == "@ml-oncall"
    assert slack.status_reminder_min == {Severity.SEV2: 5}
    assert slack.outbox.per_channel_interval_s == 0.5
    assert slack.configured


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("slack:\n  api_url: slack.com\n", "slack.api_url"),
        ("slack:\n  status_reminder_min: {SEV9: 5}\n", "slack.status_reminder_min"),
        ("slack:\n  status_reminder_min: {SEV1: -1}\n", "minutes must be >= 0"),
        ("slack:\n  paging_webhook_url: ftp://x\n", "slack.paging_webhook_url"),
        ("slack:\n  bogus: 1\n", "slack.bogus: unknown setting"),
    ],
)
def test_invalid_slack_settings(tmp_path: Path, content: str, expected: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert expected in err.value.message
