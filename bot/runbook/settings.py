"""The ``runbooks:`` config section: approval expiry, retry defaults, concurrency, groups."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.runbook.durations import Duration, PositiveDuration
from bot.runbook.models import RetrySpec


class RunbookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: How long a run waits for its approvals before it is cancelled (a runbook may override).
    approval_expiry: PositiveDuration = 1800.0
    #: Time limit of one attempt of a step that sets no ``timeout``.
    default_timeout: PositiveDuration = 300.0
    #: Retries of a step that sets no ``retries`` (only retryable failures are retried).
    default_retries: RetrySpec = RetrySpec()
    #: Runs executed at once by this process (further runs wait their turn).
    max_concurrent_runs: int = Field(4, ge=1, le=100)
    #: Approver groups configured here, e.g. ``{"@ml-leads": ["U123", "alice"]}``; the chat
    #: layer's user groups are consulted too.
    approver_groups: dict[str, list[str]] = Field(default_factory=dict)
    #: Execute runs in this process (``serve``). Off: this replica only answers requests.
    worker: bool = True
    #: A worker owns a run for this long and renews it while it works; when the owner dies,
    #: another worker takes the run over after the lease ran out (crash recovery).
    lease: Duration = Field(60.0, ge=0.5)
    #: How often the worker looks for runs to start, resume or expire.
    poll_interval: PositiveDuration = 5.0

    @field_validator("approver_groups")
    @classmethod
    def _group_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name in value:
            if not name.startswith("@") or len(name) < 2:
                raise ValueError(f"group {name!r} must start with @, e.g. @ml-leads")
        return value
