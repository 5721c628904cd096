"""The one exception tree of incident-bot.

Every error carries context (incident, runbook, step, integration...) and, where it helps,
a hint that says what to check. Doors (REST, Slack, CLI) map the classes, never messages:

    IncidentBotError                     base: message, context, hint
    ├── ConfigError                      invalid settings or config file (CLI exit code 2)
    │   └── InvalidConfigError           several problems at once, one Problem per line
    ├── InputError                       a client sent something invalid (422)
    │   └── RunbookValidationError       a runbook file is invalid: file, step, field
    ├── AuthenticationError              no or bad credentials (401)
    ├── PermissionDeniedError            authenticated, not allowed (403)
    ├── NotFoundError                    unknown incident, run, token... (404)
    ├── ConflictError                    state forbids it (409)
    │   ├── IllegalTransitionError       status change not allowed; names the allowed ones
    │   └── AlreadyRunningError          a run holds the target resource
    ├── UnavailableError                 the database or a dependency is down (503)
    ├── RunbookError                     a runbook could not run as asked
    │   ├── TemplateRenderError          a `with:` template failed (missing variable...)
    │   └── StepFailedError              a step failed after its retries
    └── IntegrationError                 an external system refused or failed: system, call
        ├── RetryableIntegrationError    connection error, timeout, 429, 5xx, circuit open
        └── RejectedIntegrationError     4xx: auth, not found, conflict, bad request

Integration errors split into retryable and rejected so runbook retry policy can decide
without parsing messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class IncidentBotError(Exception):
    """Base of every error the bot raises on purpose."""

    http_status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, hint: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.message, "code": self.code}
        if self.hint:
            body["hint"] = self.hint
        body.update(self.context)
        return body


class ConfigError(IncidentBotError):
    code = "config_error"


@dataclass(frozen=True)
class Problem:
    """One configuration mistake: where it is written, the field, what is wrong, the fix."""

    where: str
    field: str
    what: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.where}: {self.field}: {self.what}" if self.field else f"{self.where}: {self.what}"
        return f"{text}; {self.fix}" if self.fix else text


class InvalidConfigError(ConfigError):
    """Every problem found at once (start-up and ``config check`` list them all)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.summary = f"the configuration has {len(problems)} problem(s)"
        super().__init__("\n  ".join([f"{self.summary}:", *(p.line() for p in problems)]))
        self.problems = problems


class InputError(IncidentBotError):
    http_status = 422
    code = "invalid_input"


class RunbookValidationError(InputError):
    code = "invalid_runbook"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        step: str | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ", ".join(f"{k} {v}" for k, v in (("file", file), ("step", step), ("field", field)) if v)
        super().__init__(
            f"{where}: {message}" if where else message,
            hint=hint,
            file=file,
            step=step,
            field=field,
        )


class AuthenticationError(IncidentBotError):
    http_status = 401
    code = "unauthenticated"


class PermissionDeniedError(IncidentBotError):
    http_status = 403
    code = "forbidden"


class NotFoundError(IncidentBotError):
    http_status = 404
    code = "not_found"


class ConflictError(IncidentBotError):
    http_status = 409
    code = "conflict"


class IllegalTransitionError(ConflictError):
    code = "illegal_transition"


class AlreadyRunningError(ConflictError):
    code = "already_running"


class UnavailableError(IncidentBotError):
    http_status = 503
    code = "unavailable"


class RunbookError(IncidentBotError):
    http_status = 422
    code = "runbook_error"


class TemplateRenderError(RunbookError):
    code = "template_error"


class StepFailedError(RunbookError):
    http_status = 502
    code = "step_failed"


class IntegrationError(IncidentBotError):
    """An external system failed or refused. `system` names the instance and its URL."""

    http_status = 502
    code = "integration_error"

    def __init__(
        self,
        message: str,
        *,
        system: str | None = None,
        call: str | None = None,
        status: int | None = None,
        hint: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, hint=hint, system=system, call=call, status=status, **context)
        self.system = system
        self.call = call
        self.status = status


class RetryableIntegrationError(IntegrationError):
    code = "integration_unavailable"


class RejectedIntegrationError(IntegrationError):
    code = "integration_rejected"
