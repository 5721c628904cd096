"""Parse ``/incident`` command text into typed commands; pure, no I/O.

Grammar: ``/incident [INC-n] <subcommand> [INC-n] [arguments]``. Inside an incident channel
the incident is implied; elsewhere an ``INC-n`` token right before or after the subcommand
selects it. Malformed input raises ``CommandError`` with what was wrong; the handler answers
with that line and the help text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.incident.domain import Role, Severity, Status, parse_ref

_STRICT_REF = re.compile(r"^INC-\d+$", re.IGNORECASE)
# Slack escapes mentions in command text when the command has should_escape: <@U123|name>.
_USER_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_INPUT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_RUN_ID = re.compile(r"^(?:#|run-)?(\d+)$", re.IGNORECASE)

ROLE_ALIASES: dict[str, Role] = {
    "commander": Role.COMMANDER,
    "ic": Role.COMMANDER,
    "communications": Role.COMMUNICATIONS,
    "comms": Role.COMMUNICATIONS,
    "operations": Role.OPERATIONS,
    "ops": Role.OPERATIONS,
    "scribe": Role.SCRIBE,
}

USAGE = {
    "declare": "declare [title]: open the declare form",
    "status": "status [new-status] [reason]: show the incident, or move it (investigating, "
    "identified, mitigated, resolved)",
    "ack": "ack: acknowledge the incident",
    "sev": "sev <SEV1-SEV4> [reason]: change the severity",
    "role": "role <commander|communications|operations|scribe> <@user|me>: assign a role",
    "note": "note <text>: add a note to the timeline",
    "runbook": "runbook [list|suggested|plan NAME [key=value...]|run NAME [key=value...]]",
    "approve": "approve [run]: approve a pending runbook run",
    "deny": "deny [run] [reason]: deny a pending runbook run",
    "cancel": "cancel <run>: cancel a runbook run (or withdraw an undo that waits for approval)",
    "undo": "undo <run>: undo a finished runbook run (its approval policy applies)",
    "resolve": "resolve [summary]: resolve the incident",
    "postmortem": "postmortem: the postmortem draft",
    "help": "help: this list",
}


class CommandError(ValueError):
    """Input that is not a valid command; the message says what is wrong."""


@dataclass(frozen=True)
class Command:
    #: The ``INC-n`` named in the command, if any (otherwise the channel's incident).
    incident_ref: str | None = field(default=None, kw_only=True)

    #: False for commands that work without an incident (help, declare, runbook list).
    needs_incident = True


@dataclass(frozen=True)
class Help(Command):
    problem: str | None = None
    needs_incident = False


@dataclass(frozen=True)
class Declare(Command):
    title: str = ""
    needs_incident = False


@dataclass(frozen=True)
class ShowStatus(Command):
    pass


@dataclass(frozen=True)
class ChangeStatus(Command):
    status: Status
    reason: str | None = None


@dataclass(frozen=True)
class Acknowledge(Command):
    pass


@dataclass(frozen=True)
class ChangeSeverity(Command):
    severity: Severity
    reason: str | None = None


@dataclass(frozen=True)
class AssignRole(Command):
    role: Role
    #: A Slack user id, or None for "me" (the person typing).
    user_id: str | None


@dataclass(frozen=True)
class AddNote(Command):
    text: str


@dataclass(frozen=True)
class RunbookList(Command):
    needs_incident = False


@dataclass(frozen=True)
class RunbookSuggested(Command):
    pass


@dataclass(frozen=True)
class RunbookPlan(Command):
    name: str
    inputs: dict[str, str]


@dataclass(frozen=True)
class RunbookRun(Command):
    name: str
    inputs: dict[str, str]


@dataclass(frozen=True)
class Approve(Command):
    run_id: int | None


@dataclass(frozen=True)
class Deny(Command):
    run_id: int | None
    reason: str | None = None


@dataclass(frozen=True)
class CancelRun(Command):
    run_id: int


@dataclass(frozen=True)
class UndoRun(Command):
    run_id: int


@dataclass(frozen=True)
class Resolve(Command):
    reason: str | None = None


@dataclass(frozen=True)
class Postmortem(Command):
    pass


def parse(text: str) -> Command:
    """The command in ``text`` (what follows ``/incident``); raises CommandError."""
    tokens = text.split()
    ref: str | None = None
    if tokens and _STRICT_REF.match(tokens[0]):
        ref = _normalize_ref(tokens.pop(0))
    if not tokens:
        return Help(incident_ref=ref)
    name = tokens.pop(0).lower()
    if tokens and _STRICT_REF.match(tokens[0]):
        if ref is not None:
            raise CommandError("name the incident once")
        ref = _normalize_ref(tokens.pop(0))
    rest = text.split(maxsplit=len(text.split()) - len(tokens))[-1] if tokens else ""
    parser = _PARSERS.get(name)
    if parser is None:
        raise CommandError(f"unknown subcommand {name!r}")
    return parser(tokens, rest.strip(), ref)


def _normalize_ref(token: str) -> str:
    return f"INC-{parse_ref(token)}"


def _optional(text: str) -> str | None:
    return text or None


def _no_args(name: str, tokens: list[str]) -> None:
    if tokens:
        raise CommandError(f"{name} takes no arguments; usage: {USAGE[name]}")


def _help(tokens: list[str], rest: str, ref: str | None) -> Command:
    return Help(incident_ref=ref)


def _declare(tokens: list[str], rest: str, ref: str | None) -> Command:
    if ref is not None:
        raise CommandError("declare opens a new incident; it takes a title, not INC-n")
    return Declare(title=rest[:300])


def _status(tokens: list[str], rest: str, ref: str | None) -> Command:
    if not tokens:
        return ShowStatus(incident_ref=ref)
    try:
        status = Status(tokens[0].lower())
    except ValueError:
        known = ", ".join(s.value for s in Status)
        raise CommandError(f"{tokens[0]!r} is not a status; one of: {known}") from None
    return ChangeStatus(status=status, reason=_optional(rest[len(tokens[0]) :].strip()), incident_ref=ref)


def _ack(tokens: list[str], rest: str, ref: str | None) -> Command:
    _no_args("ack", tokens)
    return Acknowledge(incident_ref=ref)


def _sev(tokens: list[str], rest: str, ref: str | None) -> Command:
    if not tokens:
        raise CommandError(f"which severity? usage: {USAGE['sev']}")
    raw = tokens[0].upper()
    raw = f"SEV{raw}" if raw.isdigit() else raw
    try:
        severity = Severity(raw)
    except ValueError:
        raise CommandError(f"{tokens[0]!r} is not a severity; one of: SEV1, SEV2, SEV3, SEV4") from None
    return ChangeSeverity(
        severity=severity, reason=_optional(rest[len(tokens[0]) :].strip()), incident_ref=ref
    )


def _role(tokens: list[str], rest: str, ref: str | None) -> Command:
    if len(tokens) != 2:
        raise CommandError(f"usage: {USAGE['role']}")
    role = ROLE_ALIASES.get(tokens[0].lower())
    if role is None:
        raise CommandError(f"{tokens[0]!r} is not a role; one of: {', '.join(r.value for r in Role)}")
    if tokens[1].lower() == "me":
        return AssignRole(role=role, user_id=None, incident_ref=ref)
    match = _USER_MENTION.match(tokens[1])
    if match is None:
        raise CommandError(f"{tokens[1]!r} is not a person: mention them with @ (or say me)")
    return AssignRole(role=role, user_id=match.group(1), incident_ref=ref)


def _note(tokens: list[str], rest: str, ref: str | None) -> Command:
    if not rest:
        raise CommandError(f"a note needs text; usage: {USAGE['note']}")
    return AddNote(text=rest, incident_ref=ref)


def _inputs(tokens: list[str]) -> dict[str, str]:
    inputs: dict[str, str] = {}
    for token in tokens:
        match = _INPUT.match(token)
        if match is None:
            raise CommandError(f"{token!r} is not an input; write key=value")
        inputs[match.group(1)] = match.group(2)
    return inputs


def _runbook(tokens: list[str], rest: str, ref: str | None) -> Command:
    if not tokens or tokens[0].lower() == "list":
        if len(tokens) > 1:
            raise CommandError(f"usage: {USAGE['runbook']}")
        return RunbookList(incident_ref=ref)
    verb = tokens[0].lower()
    if verb == "suggested":
        _no_args("runbook", tokens[1:])
        return RunbookSuggested(incident_ref=ref)
    if verb in ("plan", "run"):
        if len(tokens) < 2:
            raise CommandError(f"which runbook? usage: {USAGE['runbook']}")
        name, inputs = tokens[1], _inputs(tokens[2:])
        if verb == "plan":
            return RunbookPlan(name=name, inputs=inputs, incident_ref=ref)
        return RunbookRun(name=name, inputs=inputs, incident_ref=ref)
    raise CommandError(f"unknown runbook subcommand {tokens[0]!r}; usage: {USAGE['runbook']}")


def _run_id(tokens: list[str]) -> tuple[int | None, list[str]]:
    if tokens and (match := _RUN_ID.match(tokens[0])):
        return int(match.group(1)), tokens[1:]
    return None, tokens


def _approve(tokens: list[str], rest: str, ref: str | None) -> Command:
    run_id, remaining = _run_id(tokens)
    if remaining:
        raise CommandError(f"usage: {USAGE['approve']}")
    return Approve(run_id=run_id, incident_ref=ref)


def _deny(tokens: list[str], rest: str, ref: str | None) -> Command:
    run_id, remaining = _run_id(tokens)
    return Deny(run_id=run_id, reason=_optional(" ".join(remaining)), incident_ref=ref)


def _named_run(name: str, tokens: list[str]) -> int:
    run_id, remaining = _run_id(tokens)
    if run_id is None or remaining:
        raise CommandError(f"which run? usage: {USAGE[name]}")
    return run_id


def _cancel(tokens: list[str], rest: str, ref: str | None) -> Command:
    return CancelRun(run_id=_named_run("cancel", tokens), incident_ref=ref)


def _undo(tokens: list[str], rest: str, ref: str | None) -> Command:
    return UndoRun(run_id=_named_run("undo", tokens), incident_ref=ref)


def _resolve(tokens: list[str], rest: str, ref: str | None) -> Command:
    return Resolve(reason=_optional(rest), incident_ref=ref)


def _postmortem(tokens: list[str], rest: str, ref: str | None) -> Command:
    _no_args("postmortem", tokens)
    return Postmortem(incident_ref=ref)


_PARSERS = {
    "help": _help,
    "declare": _declare,
    "status": _status,
    "ack": _ack,
    "acknowledge": _ack,
    "sev": _sev,
    "severity": _sev,
    "role": _role,
    "note": _note,
    "runbook": _runbook,
    "runbooks": _runbook,
    "approve": _approve,
    "deny": _deny,
    "cancel": _cancel,
    "undo": _undo,
    "resolve": _resolve,
    "postmortem": _postmortem,
}


def help_text(problem: str | None = None) -> str:
    lines = [f"{problem}\n"] if problem else []
    lines.append(
        "*/incident* commands (in an incident channel the incident is implied; elsewhere add INC-n):"
    )
    lines.extend(f"• `/incident {usage}`" for usage in USAGE.values())
    return "\n".join(lines)
