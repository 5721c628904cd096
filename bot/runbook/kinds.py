"""Timeline event kinds of runbook runs: stable names the chat layer renders messages from.

Every event's ``data`` has ``run`` (RUN-n) and ``runbook``; the rest is listed per kind in
docs/runbooks.md.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    DRY_RUN = "runbook_dry_run"
    REQUESTED = "runbook_requested"
    APPROVAL_REQUESTED = "runbook_approval_requested"
    APPROVED = "runbook_approved"
    DENIED = "runbook_denied"
    APPROVAL_EXPIRED = "runbook_approval_expired"
    STARTED = "runbook_started"
    RESUMED = "runbook_resumed"
    STEP_STARTED = "runbook_step_started"
    #: An observation interrupted by a crash, a restart or a takeover starts over.
    STEP_RESTARTED = "runbook_step_restarted"
    STEP_RETRYING = "runbook_step_retrying"
    STEP_SUCCEEDED = "runbook_step_succeeded"
    STEP_FAILED = "runbook_step_failed"
    STEP_SKIPPED = "runbook_step_skipped"
    SUCCEEDED = "runbook_succeeded"
    FAILED = "runbook_failed"
    CANCEL_REQUESTED = "runbook_cancel_requested"
    CANCELLED = "runbook_cancelled"
    UNDO_STARTED = "runbook_undo_started"
    STEP_UNDONE = "runbook_step_undone"
    UNDO_FAILED = "runbook_undo_failed"
    UNDONE = "runbook_undone"
    AUTO_RUN_REFUSED = "runbook_auto_run_refused"
    #: A routing rule's runbook already ran automatically for the incident (once per incident).
    AUTO_RUN_SKIPPED = "runbook_auto_run_skipped"
