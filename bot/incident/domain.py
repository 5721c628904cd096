"""Incident rules that need no database: severities, statuses and their legal transitions, roles."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


class Status(StrEnum):
    TRIGGERED = "triggered"
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Role(StrEnum):
    COMMANDER = "commander"
    COMMUNICATIONS = "communications"
    OPERATIONS = "operations"
    SCRIBE = "scribe"

    @property
    def display(self) -> str:
        return ROLE_TITLES[self]


ROLE_TITLES = {
    Role.COMMANDER: "Incident commander",
    Role.COMMUNICATIONS: "Communications lead",
    Role.OPERATIONS: "Operations lead",
    Role.SCRIBE: "Scribe",
}

# Forward moves may skip steps (a page can go straight to mitigated); backward moves are
# allowed while the incident is open (a mitigation that did not hold). A resolved incident may
# be reopened (→ investigating) or closed; closed is final.
TRANSITIONS: dict[Status, tuple[Status, ...]] = {
    Status.TRIGGERED: (Status.INVESTIGATING, Status.IDENTIFIED, Status.MITIGATED, Status.RESOLVED),
    Status.INVESTIGATING: (Status.IDENTIFIED, Status.MITIGATED, Status.RESOLVED),
    Status.IDENTIFIED: (Status.INVESTIGATING, Status.MITIGATED, Status.RESOLVED),
    Status.MITIGATED: (Status.INVESTIGATING, Status.IDENTIFIED, Status.RESOLVED),
    Status.RESOLVED: (Status.INVESTIGATING, Status.CLOSED),
    Status.CLOSED: (),
}

OPEN_STATUSES = (Status.TRIGGERED, Status.INVESTIGATING, Status.IDENTIFIED, Status.MITIGATED)

#: The milestone timestamp a status sets the first time it is reached.
MILESTONES: dict[Status, str] = {
    Status.MITIGATED: "mitigated_at",
    Status.RESOLVED: "resolved_at",
    Status.CLOSED: "closed_at",
}


def allowed_transitions(current: Status) -> tuple[Status, ...]:
    return TRANSITIONS[current]


def is_reopen(current: Status, new: Status) -> bool:
    return current == Status.RESOLVED and new == Status.INVESTIGATING


def parse_ref(ref: str | int) -> int:
    """``INC-42``, ``inc-42`` or ``42`` → 42; ValueError otherwise."""
    text = str(ref).strip()
    if text.upper().startswith("INC-"):
        text = text[4:]
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{ref!r} is not an incident reference like INC-42")
    return int(text)


def format_ref(incident_id: int) -> str:
    return f"INC-{incident_id}"
