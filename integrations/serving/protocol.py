"""The serving-layer protocol: one interface for KServe, MLServer and in-house HTTP routers.

Each operation comes as a read-only ``plan_*`` (what would change) and an applying twin that
sets the serving layer to the target and is idempotent. Both return a :class:`ServingChange`
with the state before and after. An implementation that cannot do an operation leaves its
capability out of ``capabilities`` and raises :func:`unsupported` (an ``InputError``), so a
runbook fails at plan time, before anything changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from bot.errors import InputError
from integrations.base import Instance
from integrations.serving.config import ServedModel

Mode = Literal["primary", "fallback"]
Capability = Literal["fallback", "rollback", "reload", "health", "version"]

_ALTERNATIVES: dict[str, str] = {
    "rollback": "roll back the registry alias instead and reload the model, or switch to the fallback",
    "reload": "this serving layer picks up changes by itself; use serving.rollback or the fallback",
    "fallback": "configure a fallback for the model on a serving instance that supports it",
    "health": "use a metrics check for verification instead",
    "version": "configure how this layer reports and sets the served version (docs/integrations/serving.md)",
}


@dataclass(frozen=True)
class ServingState:
    """What a serving layer serves for one model right now."""

    model: str
    mode: Mode
    #: The model artefact served (KServe storageUri, router route); None when not visible.
    model_uri: str | None = None
    #: Percent of traffic on the newest revision while a canary is in flight.
    canary_percent: int | None = None
    ready: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The fields actions compare (before/after); readiness and details vary on their own."""
        return {
            "model": self.model,
            "mode": self.mode,
            "model_uri": self.model_uri,
            "canary_percent": self.canary_percent,
        }


@dataclass(frozen=True)
class ServingChange:
    """A planned or applied change: before and after, and a one-line summary."""

    before: ServingState
    after: ServingState
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def changes(self) -> bool:
        return self.before.as_dict() != self.after.as_dict()


@dataclass(frozen=True)
class ServingHealth:
    model: str
    healthy: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServedVersion:
    """What a serving layer says it serves for one registered model, through its own API."""

    #: The model's name on the layer.
    name: str
    #: The registry version, when the layer tells it (MLServer settings, an HTTP router).
    version: str | None
    #: What it loads, when it tells it (KServe storageUri): the caller maps it to a version.
    uri: str | None
    ready: bool | None
    #: How the layer said so, for people: "InferenceService ml/fraud: storageUri s3://..., Ready".
    evidence: str


@runtime_checkable
class ServingLayer(Instance, Protocol):
    """A configured serving layer (one KServe namespace, one MLServer, one HTTP router)."""

    capabilities: frozenset[Capability]

    @property
    def serves(self) -> Sequence[ServedModel]:
        """The registered models it serves (``serves:`` in its config)."""
        ...

    async def state(self, model: str) -> ServingState: ...

    async def plan_fallback(self, model: str, *, enabled: bool) -> ServingChange: ...

    async def set_fallback(self, model: str, *, enabled: bool) -> ServingChange: ...

    async def plan_rollback(
        self, model: str, *, to_uri: str | None = None, canary_percent: int | None = None
    ) -> ServingChange: ...

    async def rollback(
        self, model: str, *, to_uri: str | None = None, canary_percent: int | None = None
    ) -> ServingChange: ...

    async def plan_reload(self, model: str) -> ServingChange: ...

    async def reload(self, model: str) -> ServingChange: ...

    async def health(self, model: str) -> ServingHealth: ...

    async def served_version(self, served: ServedModel) -> ServedVersion:
        """What the layer serves for ``served`` now (capability ``version``)."""
        ...

    async def serve_version(self, served: ServedModel, version: str, uri: str) -> ServedVersion:
        """Serve ``version`` (loading ``uri``, or reloading what ``served.alias`` points to, which
        the caller checked points at ``version``); idempotent; returns what is served after."""
        ...


def unsupported(instance: Instance, operation: Capability) -> InputError:
    """The error for an operation an implementation cannot do."""
    return InputError(
        f"serving instance {instance.name} ({instance.kind}) does not support {operation}",
        hint=_ALTERNATIVES[operation],
    )
