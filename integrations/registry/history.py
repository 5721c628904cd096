"""Alias history kept in version tags, and the choice of the version a rollback goes to.

When the bot moves alias ``A`` of a model onto version ``N``, it first tags ``N`` with:

- ``incident_bot.alias.A.previous = <version A pointed to before>`` (by ``registry.set_alias``;
  a rollback leaves it alone so that rolling back twice walks further back, never forward);
- ``incident_bot.alias.A.moved = {"action", "from", "by", "at", "incident", "run", "step",
  "requested_by", "approved_by"}`` (JSON): who moved it (``by``: the requester of the run, or
  the person who asked for its undo), who requested the run and who approved this move (the
  run's approvers, or its undo's), when, and for which
  incident, run and step; the run and step make a re-applied rollback step recognise its own
  work instead of rolling back one more time.

Rolling back from version ``C`` goes to, in order:

1. the version named by ``C``'s ``previous`` tag, if it still exists and is READY, unless
   ``C`` was itself reached by rolling back from that version (no bouncing back);
2. else the newest READY version numbered below ``C`` whose validated tag is truthy;
3. else nothing: the caller refuses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from integrations.base import ActionContext
from integrations.registry.protocol import READY, ModelVersion

TAG_PREFIX = "incident_bot.alias."
#: Values of the validated tag that mean "known good" (compared case-insensitively).
VALIDATED_VALUES = frozenset({"true", "yes", "1", "ok", "passed"})


def previous_tag(alias: str) -> str:
    return f"{TAG_PREFIX}{alias}.previous"


def moved_tag(alias: str) -> str:
    return f"{TAG_PREFIX}{alias}.moved"


@dataclass(frozen=True)
class AliasMove:
    """The record of one alias move, stored as JSON on the version the alias moved to."""

    action: str
    from_version: str | None
    by: str
    at: str
    incident: str | None = None
    run: str | None = None
    step: str | None = None
    requested_by: str | None = None
    approved_by: tuple[str, ...] = ()

    @classmethod
    def now(cls, action: str, from_version: str | None, ctx: ActionContext) -> AliasMove:
        return cls(
            action=action,
            from_version=from_version,
            by=ctx.actor,
            at=datetime.now(UTC).isoformat(timespec="seconds"),
            incident=ctx.incident_ref,
            run=ctx.run_ref,
            step=ctx.step_id,
            requested_by=ctx.requested_by,
            approved_by=tuple(ctx.approved_by),
        )

    def to_tag(self) -> str:
        fields = {k: v for k, v in asdict(self).items() if v not in (None, ())}
        fields["from"] = fields.pop("from_version", None)
        if self.approved_by:
            fields["approved_by"] = list(self.approved_by)
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_tag(cls, value: str | None) -> AliasMove | None:
        """The move recorded in ``value``; None when absent or not ours (edited by hand)."""
        if not value:
            return None
        try:
            raw = json.loads(value)
            return cls(
                action=str(raw["action"]),
                from_version=None if raw.get("from") is None else str(raw["from"]),
                by=str(raw.get("by", "")),
                at=str(raw.get("at", "")),
                incident=raw.get("incident"),
                run=raw.get("run"),
                step=raw.get("step"),
                requested_by=raw.get("requested_by"),
                approved_by=tuple(str(a) for a in raw.get("approved_by") or ()),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def made_by(self, ctx: ActionContext) -> bool:
        """True when this move was made by the same runbook run and step as ``ctx``."""
        return bool(ctx.run_ref and ctx.step_id) and (self.run, self.step) == (
            ctx.run_ref,
            ctx.step_id,
        )


def is_validated(version: ModelVersion, tag: str) -> bool:
    return version.tags.get(tag, "").strip().lower() in VALIDATED_VALUES


@dataclass(frozen=True)
class RollbackChoice:
    target: ModelVersion
    reason: str


def choose_rollback(
    current: ModelVersion, versions: Sequence[ModelVersion], alias: str, validated_tag: str
) -> RollbackChoice | None:
    """Where rolling ``alias`` back from ``current`` goes (see the module docstring)."""
    by_version = {v.version: v for v in versions}
    notes: list[str] = []
    previous = current.tags.get(previous_tag(alias))
    move = AliasMove.from_tag(current.tags.get(moved_tag(alias)))
    if previous and previous != current.version:
        candidate = by_version.get(previous)
        if move is not None and move.action == "rollback" and move.from_version == previous:
            notes.append(f"v{current.version} was reached by rolling back from v{previous}")
        elif candidate is None:
            notes.append(f"v{previous} named by the alias history no longer exists")
        elif candidate.status != READY:
            notes.append(f"v{previous} named by the alias history is {candidate.status}")
        else:
            return RollbackChoice(
                candidate,
                f"alias history: {alias} pointed to v{previous} before v{current.version} "
                f"(tag {previous_tag(alias)})",
            )
    older = sorted(
        (
            v
            for v in versions
            if v.number < current.number and v.status == READY and is_validated(v, validated_tag)
        ),
        key=lambda v: v.number,
        reverse=True,
    )
    if not older:
        return None
    reason = f"newest version older than v{current.version} tagged {validated_tag}=true"
    return RollbackChoice(older[0], "; ".join([*notes, reason]))
