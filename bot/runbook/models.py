"""The runbook file format: pydantic models of ``runbooks/*.yaml``.

The JSON Schema in ``docs/runbook.schema.json`` is generated from :class:`RunbookSpec`
(``incident-bot runbook schema``), so editors can complete and check runbook files. Checks that
need more than one field (unknown actions, template variables, step references) are in
``bot.runbook.loader``.
"""

from __future__ import annotations

import fnmatch
import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.incident.domain import Severity
from bot.runbook.durations import Duration, PositiveDuration

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,79}$"
IDENTIFIER_PATTERN = r"^[a-z][a-z0-9_]{0,59}$"
_PRINCIPAL_HINT = "role:<role>, @group, a user id, token:<name> or *"


class _Spec(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, frozen=True, use_attribute_docstrings=True
    )


class InputType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"


Scalar = str | int | float | bool


class InputSpec(_Spec):
    """A typed input of a runbook.

    Its value comes from, in order: the requester, the first of ``from`` that the incident
    has, ``default`` (a template may use ``incident``). Without any of these, a required input
    is an error.
    """

    type: InputType = InputType.STRING
    """string, integer, number or boolean; values given as text are converted."""
    description: str = ""
    from_: list[str] = Field(default_factory=list, alias="from")
    """Places on the incident to take the value from, first match wins, e.g.
    ``incident.labels.model`` or ``incident.models.0``."""
    default: Scalar | None = None
    """A value, or a template such as ``"{{ incident.labels.namespace | default('prod') }}"``."""
    required: bool = True
    """Without a value the run cannot start (an optional input is then left out)."""
    secret: bool = False
    """Kept out of the timeline, the audit log, API answers and stored step parameters."""
    choices: list[Scalar] | None = None
    """The allowed values."""

    @field_validator("from_")
    @classmethod
    def _incident_paths(cls, value: list[str]) -> list[str]:
        for path in value:
            parts = path.split(".")
            if parts[0] != "incident" or len(parts) < 2 or not all(parts):
                raise ValueError(f"{path!r} must be a path on the incident such as incident.labels.model")
        return value


class Matcher(_Spec):
    """When an incident matches, the runbook is suggested for it. Every given field must match.

    Values are shell-style globs (``fraud-*``). ``labels`` needs each label to match; ``models``
    and ``services`` need one of the incident's to match one pattern.
    """

    labels: dict[str, str] = Field(default_factory=dict)
    """Label name → glob; every one must match the incident's label."""
    severity: list[Severity] = Field(default_factory=list)
    """The incident's severity is one of these."""
    models: list[str] = Field(default_factory=list)
    """One of the incident's models matches one of these globs."""
    services: list[str] = Field(default_factory=list)
    """One of the incident's services matches one of these globs."""

    @model_validator(mode="after")
    def _not_empty(self) -> Matcher:
        if not (self.labels or self.severity or self.models or self.services):
            raise ValueError("a matcher needs at least one of labels, severity, models, services")
        return self

    def matches(
        self, *, labels: dict[str, str], severity: str, models: list[str], services: list[str]
    ) -> bool:
        if self.severity and severity not in self.severity:
            return False
        for key, pattern in self.labels.items():
            if key not in labels or not fnmatch.fnmatchcase(labels[key], pattern):
                return False
        if self.models and not _any_match(models, self.models):
            return False
        return not (self.services and not _any_match(services, self.services))


def _any_match(values: list[str], patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(v, p) for v in values for p in patterns)


class ApprovalLevel(StrEnum):
    #: The run starts at once.
    NONE = "none"
    #: One allowed approver says yes.
    ONE = "one"
    #: Two different allowed approvers say yes.
    TWO = "two"

    @property
    def approvals(self) -> int:
        return {"none": 0, "one": 1, "two": 2}[self.value]


class ApprovalPolicy(_Spec):
    """Who must say yes before a run changes anything."""

    required: ApprovalLevel = ApprovalLevel.NONE
    """The level when ``by_severity`` does not name the incident's severity."""
    by_severity: dict[Severity, ApprovalLevel] = Field(default_factory=dict)
    """The level per incident severity, e.g. ``{SEV1: none, SEV3: one}`` (fast when it burns)."""
    approvers: list[str] = Field(default_factory=list)
    """Principals allowed to approve; empty: the ``permissions.approve_runbooks`` setting."""
    four_eyes: bool = True
    """The requester may not approve their own run."""
    expires_after: PositiveDuration | None = None
    """Approvals must come within this time; default ``runbooks.approval_expiry``."""

    @field_validator("approvers")
    @classmethod
    def _principals(cls, value: list[str]) -> list[str]:
        return _check_principals(value)

    def level_for(self, severity: str) -> ApprovalLevel:
        try:
            return self.by_severity.get(Severity(severity), self.required)
        except ValueError:
            return self.required


def _check_principals(value: list[str]) -> list[str]:
    for principal in value:
        text = principal.strip()
        if not text or text != principal or (text.startswith("role:") and len(text) == 5) or text == "@":
            raise ValueError(f"{principal!r} is not a principal ({_PRINCIPAL_HINT})")
    return value


class RetrySpec(_Spec):
    """Retries of a step: only retryable failures (timeouts, unavailable systems) are retried."""

    max: int = Field(2, ge=0, le=20)
    """Attempts after the first one."""
    backoff: Duration = 2.0
    """Wait before the first retry."""
    factor: float = Field(2.0, ge=1, le=10)
    """Each further retry waits this many times longer."""
    max_backoff: Duration = 60.0
    """The longest wait between two attempts."""

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return float(min(self.backoff * self.factor ** (retry - 1), self.max_backoff))


class OnFailure(StrEnum):
    #: The run fails; what succeeded stays (undo it by hand if need be).
    STOP = "stop"
    #: The step is recorded as failed and the run goes on.
    CONTINUE = "continue"
    #: The run fails and the steps that succeeded are undone, last first.
    UNDO = "undo"


class UndoSpec(_Spec):
    """An explicit undo: replaces the action's own inverse. ``step.before``/``step.after`` hold
    the state the step found and left."""

    action: str = Field(min_length=1)
    """The action that undoes the step."""
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    """Its parameters; templates may use ``step.before`` and ``step.after``."""


class StepSpec(_Spec):
    id: str = Field(pattern=IDENTIFIER_PATTERN)
    """Unique in the runbook; later steps see its result as ``steps.<id>``."""
    title: str | None = None
    """A line for people (defaults to the action's own summary)."""
    action: str = Field(min_length=1)
    """A registered action, e.g. registry.rollback_alias, serving.enable_fallback, wait."""
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    """The action's parameters; strings are Jinja2 templates."""
    timeout: PositiveDuration | None = None
    """Time limit of one attempt; default ``runbooks.default_timeout``."""
    retries: RetrySpec | int | None = None
    """A number of retries, or the full policy; default ``runbooks.default_retries``."""
    on_failure: OnFailure = OnFailure.STOP
    """stop: the run fails; continue: go on with the next step; undo: the run fails and the
    steps that succeeded are undone, last first."""
    undo: UndoSpec | None = None
    """How to undo this step, when the action's own inverse is not what you want."""
    mitigates: bool = False
    """Its success mitigates the incident (a verification such as the error rate back under
    its threshold): the incident moves to mitigated with the step's result as the reason. A
    failure moves a mitigated incident back to investigating; see docs/runbooks.md."""

    @field_validator("retries")
    @classmethod
    def _retry_count(cls, value: RetrySpec | int | None) -> RetrySpec | int | None:
        if isinstance(value, int) and not 0 <= value <= 20:
            raise ValueError("retries must be between 0 and 20")
        return value


class RunbookSpec(_Spec):
    """A runbook file."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        frozen=True,
        use_attribute_docstrings=True,
        title="incident-bot runbook",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    name: str = Field(pattern=NAME_PATTERN)
    """The file's name without .yaml."""
    title: str = Field(min_length=1, max_length=200)
    """One line: what the runbook does."""
    description: str = ""
    """When to use it, what it changes, how to tell it worked."""
    owner: str = Field(min_length=1, max_length=200)
    """The team or person who maintains the runbook."""
    when: list[Matcher] = Field(default_factory=list)
    """Incidents this runbook is suggested for (any matcher)."""
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    """Typed inputs by name; templates see them as ``inputs.<name>``."""
    approval: ApprovalPolicy = ApprovalPolicy()
    """Who must approve a run before it changes anything (none by default)."""
    run_by: list[str] = Field(default_factory=list)
    """Who may start it; empty: the ``permissions.run_runbooks`` setting. Dry-runs are open."""
    steps: list[StepSpec] = Field(min_length=1)
    """Executed in order; each step's state is committed before and after it runs."""

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: dict[str, InputSpec]) -> dict[str, InputSpec]:
        for name in value:
            if not re.match(IDENTIFIER_PATTERN, name):
                raise ValueError(f"input name {name!r} must be lowercase letters, digits and _")
        return value

    @field_validator("run_by")
    @classmethod
    def _run_by(cls, value: list[str]) -> list[str]:
        return _check_principals(value)

    def step(self, step_id: str) -> StepSpec:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def secret_inputs(self) -> set[str]:
        return {name for name, spec in self.inputs.items() if spec.secret}

    def suggested_for(
        self, *, labels: dict[str, str], severity: str, models: list[str], services: list[str]
    ) -> bool:
        return any(
            m.matches(labels=labels, severity=severity, models=models, services=services) for m in self.when
        )


def retry_policy(step: StepSpec, defaults: RetrySpec) -> RetrySpec:
    if step.retries is None:
        return defaults
    if isinstance(step.retries, int):
        return defaults.model_copy(update={"max": step.retries})
    return step.retries


def json_schema() -> dict[str, Any]:
    """The JSON Schema of runbook files, as written to docs/runbook.schema.json."""
    return RunbookSpec.model_json_schema(by_alias=True, mode="validation")
