"""What runbook actions need from a model registry, whatever its implementation.

Versions are compared by number ("lower version number than current"), which every registry
we support (MLflow, and registries modelled on it) numbers 1, 2, 3... per model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from integrations.base import Instance

#: Status of a version whose artifacts are registered and usable.
READY = "READY"


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model, as a responder wants to see it in a dry-run."""

    name: str
    version: str
    run_id: str | None
    source: str
    created_at: datetime
    tags: Mapping[str, str]
    aliases: tuple[str, ...]
    status: str

    @property
    def number(self) -> int:
        return int(self.version)

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly view for plan and result details."""
        return {
            "version": self.version,
            "run_id": self.run_id,
            "created_at": self.created_at.isoformat(),
            "status": self.status,
            "source": self.source,
            "aliases": list(self.aliases),
            "tags": dict(self.tags),
        }


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model and where its aliases point (alias → version)."""

    name: str
    created_at: datetime
    aliases: Mapping[str, str]
    tags: Mapping[str, str]


@runtime_checkable
class ModelRegistry(Instance, Protocol):
    """A configured model registry. Errors are `bot.errors` integration errors: an unknown
    model or version is a `RejectedIntegrationError` with status 404."""

    #: Tag that marks a version as known-good; rollback falls back to the newest such version.
    validated_tag: str

    async def get_model(self, model: str) -> RegisteredModel: ...

    async def search_versions(self, model: str) -> list[ModelVersion]:
        """Every version of ``model``, newest (highest number) first, aliases filled in."""
        ...

    async def get_version(self, model: str, version: str) -> ModelVersion: ...

    async def get_alias(self, model: str, alias: str) -> ModelVersion | None:
        """The version ``alias`` points to, or None when the alias is not set."""
        ...

    async def set_alias(self, model: str, alias: str, version: str) -> None: ...

    async def delete_alias(self, model: str, alias: str) -> None:
        """Remove ``alias``; removing an alias that is not set is not an error."""
        ...

    async def set_version_tag(self, model: str, version: str, key: str, value: str) -> None: ...

    async def delete_version_tag(self, model: str, version: str, key: str) -> None:
        """Remove tag ``key``; removing a tag that is not set is not an error."""
        ...
