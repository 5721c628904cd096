"""``alerts:`` settings: webhook sources, routing rules, grouping, resolution, flapping, storms.

Every section has working defaults; docs/alerting.md is the reference. The five shipped
sources (alertmanager, grafana, pagerduty, datadog, generic) refuse every request until a
credential is configured for them (deny by default)::

    alerts:
      sources:
        alertmanager:
          auth: {type: basic, username: alertmanager, password: {env: AM_WEBHOOK_PASSWORD}}
      routes:
        - name: fraud-critical
          matchers: ['model="fraud-detector"', 'severity=~"critical|page"']
          severity: SEV1
          responders: ["@ml-oncall"]
          channel: "#fraud-incidents"
          runbooks: [rollback-model]
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.alert.matchers import Matcher, MatcherList, matches_all
from bot.incident.domain import Severity
from integrations.sources.auth import NoWebhookAuth, WebhookAuthConfig
from integrations.sources.generic import GenericMapping
from integrations.sources.model import Severity as AlertSeverity
from integrations.sources.registry import SourceKind

MIB = 1024 * 1024


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertSourceSettings(_Section):
    """One webhook source: ``POST /webhooks/<name>``."""

    kind: SourceKind
    #: How the sender authenticates; without it every request is refused (401).
    auth: WebhookAuthConfig | None = None
    #: Generic sources: a built-in mapping name, a path to a YAML file, or an inline mapping.
    mapping: GenericMapping | str | None = None
    #: Accept requests without credentials (logged as a warning at start-up).
    allow_unauthenticated: bool = False

    @model_validator(mode="after")
    def _mapping_matches_kind(self) -> AlertSourceSettings:
        if self.kind == "generic" and self.mapping is None:
            raise ValueError("a generic source needs a mapping (e.g. ml-monitor-contract)")
        if self.kind != "generic" and self.mapping is not None:
            raise ValueError(f"a {self.kind} source takes no mapping")
        return self

    @property
    def unauthenticated(self) -> bool:
        """Requests are accepted without credentials (explicitly allowed)."""
        return isinstance(self.auth, NoWebhookAuth) or (self.auth is None and self.allow_unauthenticated)


DEFAULT_SOURCES: dict[str, dict[str, Any]] = {
    "alertmanager": {"kind": "alertmanager"},
    "grafana": {"kind": "grafana"},
    "pagerduty": {"kind": "pagerduty"},
    "datadog": {"kind": "datadog"},
    "generic": {"kind": "generic", "mapping": "ml-monitor-contract"},
}

DEFAULT_SEVERITY_MAP: dict[AlertSeverity, Severity] = {
    "critical": Severity.SEV1,
    "high": Severity.SEV2,
    "warning": Severity.SEV3,
    "info": Severity.SEV4,
}


class AutoRun(_Section):
    """A runbook to start as soon as the rule opens an incident."""

    runbook: str = Field(min_length=1)
    inputs: dict[str, str] = Field(default_factory=dict)


class RouteRule(_Section):
    """First matching rule wins; ``alerts.default_route`` takes what no rule matched."""

    name: str = Field(min_length=1, max_length=100)
    matchers: MatcherList = Field(default_factory=list)
    open_incident: bool = True
    #: A fixed incident severity; without it the alert severity goes through ``severity_map``.
    severity: Severity | None = None
    severity_map: dict[AlertSeverity, Severity] = Field(default_factory=lambda: dict(DEFAULT_SEVERITY_MAP))
    #: Open only when the group has this many firing alerts...
    min_count: int | None = Field(default=None, ge=1)
    #: ...or has been firing this long (either condition opens when both are set).
    min_duration_s: int | None = Field(default=None, ge=0)
    responders: list[str] = Field(default_factory=list)
    #: Chat channel to announce the incident in (Incident.notify_channel).
    channel: str | None = Field(default=None, max_length=100)
    #: Suggested runbooks shown on the incident.
    runbooks: list[str] = Field(default_factory=list)
    auto_run: list[AutoRun] = Field(default_factory=list)

    @field_validator("severity_map")
    @classmethod
    def _complete(cls, value: dict[AlertSeverity, Severity]) -> dict[AlertSeverity, Severity]:
        return {**DEFAULT_SEVERITY_MAP, **value}

    def matches(self, labels: dict[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    def incident_severity(self, alert_severities: list[str]) -> Severity:
        if self.severity is not None:
            return self.severity
        mapped = [self.severity_map.get(s, Severity.SEV3) for s in alert_severities]  # type: ignore[call-overload]
        return min(mapped, default=Severity.SEV3, key=lambda s: s.value)  # SEV1 sorts first

    @property
    def waits(self) -> bool:
        return self.min_count is not None or self.min_duration_s is not None


class GroupingSettings(_Section):
    #: The first of these labels an alert has names its group (model=..., else service=...).
    group_by: list[str] = Field(default_factory=lambda: ["model", "service", "alertname"])
    #: Keep the sender's own groups (Alertmanager/Grafana groupKey, a generic mapping's
    #: group_key): one sender group is one incident.
    sender_groups: bool = True
    #: A firing alert whose group's incident is resolved: reopen it, or open a new one.
    on_resolved: Literal["reopen", "new"] = "reopen"
    #: Reopen only incidents resolved this recently; older ones get a new incident.
    reopen_within_s: int = Field(default=24 * 3600, ge=0)


class ResolutionSettings(_Section):
    #: When every alert of an incident is resolved, move it to mitigated (and back to
    #: investigating when one fires again).
    auto_mitigate: bool = True


class FlappingSettings(_Section):
    #: More than this many status changes within ``window_s`` marks an alert flapping.
    max_changes: int = Field(default=5, ge=1)
    window_s: int = Field(default=1800, ge=1)


class StormSettings(_Section):
    #: More new alert groups than this in one minute open one umbrella incident; 0 disables.
    new_groups_per_minute: int = Field(default=20, ge=0)
    severity: Severity = Severity.SEV2
    responders: list[str] = Field(default_factory=list)
    channel: str | None = Field(default=None, max_length=100)


class IntakeSettings(_Section):
    #: Larger bodies are refused with 413 while they are read.
    max_body_bytes: int = Field(default=MIB, ge=1024)
    #: Answer 503 (Retry-After) when a request's alerts are not committed within this time.
    commit_timeout_s: float = Field(default=10.0, gt=0)
    #: Requests waiting for a commit beyond this are refused at once with 503 (overload).
    max_pending: int = Field(default=10_000, ge=1)
    #: Requests written per transaction (group commit).
    max_batch: int = Field(default=512, ge=1)
    retry_after_s: int = Field(default=5, ge=1)


class ProcessorSettings(_Section):
    #: Off: this process only accepts webhooks into the inbox; another replica (same
    #: PostgreSQL database) processes them.
    enabled: bool = True
    #: Inbox rows normalized, deduped and routed per transaction.
    batch_size: int = Field(default=500, ge=1, le=10_000)
    #: While webhooks crowd in (a storm: several requests per inbox commit), intake comes
    #: first. Processing waits up to ``busy_defer_s`` for the crowd to thin (a storm of
    #: thousands of alerts is acknowledged in seconds), then takes batches of at most
    #: ``busy_batch_size`` rows and at most ``busy_share`` of the bot's time until it passes.
    busy_defer_s: float = Field(default=2.0, ge=0, le=60)
    busy_batch_size: int = Field(default=50, ge=1, le=10_000)
    busy_share: float = Field(default=0.25, gt=0, le=1)
    #: After a wake-up, wait this long so that rows arriving together share one transaction
    #: (fewer, larger transactions; one timeline event for alerts joining together).
    linger_s: float = Field(default=0.1, ge=0, le=10)
    #: Poll for rows written by other replicas this often (own rows wake it at once).
    poll_interval_s: float = Field(default=1.0, gt=0)
    #: Expiry, pending groups, flapping and ended silences are checked this often.
    sweep_interval_s: float = Field(default=5.0, gt=0)
    #: A row that fails this many times is set aside (failed) so the rows after it proceed.
    max_attempts: int = Field(default=5, ge=1)
    #: Processed inbox rows (raw payloads) are deleted after this long.
    inbox_retention_s: int = Field(default=7 * 24 * 3600, ge=60)


class AlertSettings(_Section):
    sources: dict[str, AlertSourceSettings] = Field(
        default_factory=lambda: {n: AlertSourceSettings.model_validate(v) for n, v in DEFAULT_SOURCES.items()}
    )
    routes: list[RouteRule] = Field(default_factory=list)
    default_route: RouteRule = Field(default_factory=lambda: RouteRule(name="default"))
    grouping: GroupingSettings = Field(default_factory=GroupingSettings)
    resolution: ResolutionSettings = Field(default_factory=ResolutionSettings)
    flapping: FlappingSettings = Field(default_factory=FlappingSettings)
    storm: StormSettings = Field(default_factory=StormSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    processor: ProcessorSettings = Field(default_factory=ProcessorSettings)

    @field_validator("sources", mode="before")
    @classmethod
    def _merge_default_sources(cls, value: Any) -> Any:
        """User entries extend the shipped ones by name; ``<name>: null`` removes one."""
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = dict(DEFAULT_SOURCES)
        for name, entry in value.items():
            if entry is None:
                merged.pop(name, None)
            elif isinstance(entry, dict) and name in DEFAULT_SOURCES and "kind" not in entry:
                merged[name] = {**DEFAULT_SOURCES[name], **entry}
            else:
                merged[name] = entry
        return merged

    @field_validator("sources")
    @classmethod
    def _names(cls, value: dict[str, AlertSourceSettings]) -> dict[str, AlertSourceSettings]:
        for name in value:
            if not name or not all(c.isalnum() or c in "-_." for c in name):
                raise ValueError(f"source name {name!r}: use letters, digits, - _ . (it is a URL path)")
        return value

    @field_validator("routes")
    @classmethod
    def _unique_route_names(cls, value: list[RouteRule]) -> list[RouteRule]:
        seen: set[str] = set()
        for rule in value:
            if rule.name in seen:
                raise ValueError(f"two routes are named {rule.name!r}")
            seen.add(rule.name)
        return value

    def route_for(self, labels: dict[str, str]) -> RouteRule:
        for rule in self.routes:
            if rule.matches(labels):
                return rule
        return self.default_route

    def rule_named(self, name: str | None) -> RouteRule:
        for rule in self.routes:
            if rule.name == name:
                return rule
        return self.default_route


__all__ = [
    "AlertSettings",
    "AlertSourceSettings",
    "AutoRun",
    "Matcher",
    "RouteRule",
]
