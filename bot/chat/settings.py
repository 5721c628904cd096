"""The ``slack:`` settings section: credentials, the incident room, reminders, the outbox.

Besides the usual sources (``INCIDENT_BOT_SLACK__BOT_TOKEN``, the YAML file), every field is
also read from a ``SLACK_``-prefixed environment variable (``SLACK_BOT_TOKEN``,
``SLACK_SIGNING_SECRET``, ``SLACK_APP_TOKEN``, ``SLACK_API_URL``...) when the file and the
``INCIDENT_BOT_`` variables leave it unset: the names Slack's own tools use. The environment
is read when settings are loaded, never at import time.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.incident.domain import Severity

SLACK_API_URL = "https://slack.com/api/"


class OutboxSettings(BaseModel):
    """How the outbox worker paces, retries and gives up (``slack.outbox``)."""

    model_config = ConfigDict(extra="forbid")

    #: chat.postMessage pacing per channel (Slack allows about one message per second).
    per_channel_interval_s: float = Field(1.0, ge=0)
    #: Calls per minute per method tier (Slack's tiers 1-4); bursts of ~10 s worth allowed.
    tier_per_minute: dict[int, float] = Field(default_factory=lambda: {1: 1.0, 2: 20.0, 3: 50.0, 4: 100.0})
    #: Failed calls (errors, not 429s) before a message is dead-lettered.
    max_attempts: int = Field(15, ge=1)
    #: Exponential backoff between failed attempts: initial delay, doubling up to the cap.
    backoff_initial_s: float = Field(2.0, gt=0)
    backoff_max_s: float = Field(300.0, gt=0)
    #: A worker owns a claimed message this long; a crashed worker's messages are retried after.
    lease_s: float = Field(120.0, gt=0)
    #: Polling interval when nothing wakes the worker up (enqueues after commit do).
    poll_interval_s: float = Field(5.0, gt=0)
    #: Lanes sent concurrently (each lane is strictly sequential).
    max_parallel_lanes: int = Field(8, ge=1)
    #: A message whose placeholders cannot be resolved for this long is dead-lettered.
    resolve_timeout_s: float = Field(3600.0, gt=0)
    #: A 429 asking to wait at most this long is retried in the call by slack_sdk's handler;
    #: longer waits pause the method in the worker instead.
    sdk_max_retry_wait_s: float = Field(10.0, ge=0)
    #: HTTP timeout of one Web API call.
    call_timeout_s: int = Field(15, ge=1)


class SlackSettings(BaseSettings):
    """Chat (Slack) delivery, the incident room and reminders. See docs/chat-delivery.md."""

    model_config = SettingsConfigDict(env_prefix="SLACK_", env_nested_delimiter="__", extra="forbid")

    #: Bot token (xoxb-...). Without it the bot runs with the console chat adapter.
    bot_token: SecretStr | None = None
    #: Verifies requests from Slack in HTTP mode.
    signing_secret: SecretStr | None = None
    #: App-level token (xapp-...): Socket Mode instead of HTTP mode when set.
    app_token: SecretStr | None = None
    #: Web API base URL (tests point it at a local fake).
    api_url: str = SLACK_API_URL
    #: Channel (id or name) where new incidents are announced.
    broadcast_channel: str | None = None
    channel_name_pattern: str = "inc-{number}-{slug}"
    #: Alert traffic (alerts joining, firing again, resolving one by one) refreshes an
    #: incident's card at most this often; any other change refreshes it at once (0: always
    #: at once). In a storm every batch of alerts would otherwise re-render every card.
    card_alert_refresh_s: float = Field(5.0, ge=0)
    #: Reacting with this emoji adds a message to the incident timeline.
    timeline_emoji: str = "memo"
    #: User group paged on escalation and mentioned in nudges: ``@handle`` or its id ``S0123``.
    oncall_group: str | None = None
    #: Called (POST, JSON) when an incident stays unacknowledged; none when unset.
    paging_webhook_url: str | None = None
    #: Sent as the value of the ``paging_webhook_header`` header (e.g. ``Bearer ...``).
    paging_webhook_secret: SecretStr | None = None
    paging_webhook_header: str = "Authorization"
    #: Status-update reminders to the commander, minutes between updates per severity (0: off).
    status_reminder_min: dict[Severity, float] = Field(
        default_factory=lambda: {
            Severity.SEV1: 15.0,
            Severity.SEV2: 30.0,
            Severity.SEV3: 60.0,
            Severity.SEV4: 0.0,
        }
    )
    #: Nudge when an open incident has no commander this long after it was declared (0: off).
    no_commander_after_min: float = Field(10, ge=0)
    #: Escalate (mention the on-call group, call the paging webhook) when unacknowledged (0: off).
    escalate_unacknowledged_after_min: float = Field(15, ge=0)
    #: How often the reminder scheduler re-reads the database (it also wakes at the next due time).
    reminder_check_s: float = Field(60, gt=0)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)

    @property
    def configured(self) -> bool:
        """Slack credentials are present (otherwise chat goes to the console adapter)."""
        return self.bot_token is not None and bool(self.bot_token.get_secret_value().strip())

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("paging_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("status_reminder_min")
    @classmethod
    def _non_negative(cls, value: dict[Severity, float]) -> dict[Severity, float]:
        for severity, minutes in value.items():
            if minutes < 0:
                raise ValueError(f"{severity.value}: minutes must be >= 0 (0 turns reminders off)")
        return value
