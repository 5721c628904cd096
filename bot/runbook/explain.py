"""One line that says why a step's plan is what it is, from its action's plan details.

Actions put ``reason`` (why this target: "alias history: champion pointed to v6 before v7") and
``candidates`` (what else there was, short texts) in their plan details; every door shows the
same line: the CLI, the REST answer (the details themselves), the chat and the timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.runbook.schemas import PlannedStepOut

#: Candidates shown in one line; the details keep all of them.
SHOWN = 5


def explain(details: Mapping[str, Any] | None) -> str | None:
    if not details:
        return None
    parts = []
    reason = details.get("reason")
    if reason:
        parts.append(f"why: {reason}")
    candidates = details.get("candidates")
    if isinstance(candidates, list) and candidates:
        shown = ", ".join(str(c) for c in candidates[:SHOWN])
        more = f" and {len(candidates) - SHOWN} more" if len(candidates) > SHOWN else ""
        parts.append(f"candidates: {shown}{more}")
    return "; ".join(parts) or None


def plan_line(step: PlannedStepOut) -> str:
    """``rollback: alias champion of fraud: v7 → v6 (why: ...)``, or why it cannot be planned."""
    if step.error is not None:
        return f"{step.step}: cannot plan: {step.error}"
    why = explain(step.details)
    return f"{step.step}: {step.summary}" + (f" ({why})" if why else "")
