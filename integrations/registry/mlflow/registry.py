"""`ModelRegistry` on MLflow: maps MLflow's JSON to the protocol's dataclasses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.errors import IntegrationError
from integrations.base import CheckResult
from integrations.registry.mlflow.client import MlflowClient
from integrations.registry.protocol import ModelVersion, RegisteredModel


def _timestamp(millis: Any) -> datetime:
    return datetime.fromtimestamp(int(millis or 0) / 1000, tz=UTC)


def _tags(raw: Any) -> dict[str, str]:
    return {str(tag["key"]): str(tag.get("value", "")) for tag in raw or []}


def parse_version(raw: dict[str, Any], aliases: tuple[str, ...] | None = None) -> ModelVersion:
    """A `ModelVersion` from MLflow's JSON; ``aliases`` overrides the (often absent) field."""
    return ModelVersion(
        name=str(raw["name"]),
        version=str(raw["version"]),
        run_id=raw.get("run_id") or None,
        source=str(raw.get("source", "")),
        created_at=_timestamp(raw.get("creation_timestamp")),
        tags=_tags(raw.get("tags")),
        aliases=aliases if aliases is not None else tuple(raw.get("aliases") or ()),
        status=str(raw.get("status", "")),
    )


def parse_model(raw: dict[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        name=str(raw["name"]),
        created_at=_timestamp(raw.get("creation_timestamp")),
        aliases={str(a["alias"]): str(a["version"]) for a in raw.get("aliases") or []},
        tags=_tags(raw.get("tags")),
    )


class MlflowRegistry:
    """One configured MLflow server."""

    kind = "mlflow"

    def __init__(self, name: str, url: str, client: MlflowClient, validated_tag: str) -> None:
        self.name = name
        self.url = url
        self.client = client
        self.validated_tag = validated_tag

    def __repr__(self) -> str:
        return f"MlflowRegistry(name={self.name!r}, url={self.url!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    async def check(self) -> CheckResult:
        """Reachability, whether our credentials are accepted, and the server's version."""
        try:
            version_status, version_text = await self.client.server_version()
            auth_status = await self.client.probe_auth()
        except IntegrationError as exc:
            return CheckResult(
                name=self.name,
                kind=self.kind,
                url=self.url,
                # An HTTP status means the server answered; none means we never got through.
                reachable=exc.status is not None,
                error=str(exc),
            )
        version = version_text if version_status == 200 else None
        if auth_status == 401:
            return CheckResult(
                name=self.name, kind=self.kind, url=self.url, reachable=True,
                authenticated=False, version=version,
                error=f"{self.client.system}: 401 on listing registered models "
                "(check the credentials configured for this instance)",
            )
        error = None
        if auth_status == 403:
            error = (
                f"{self.client.system}: 403 on listing registered models "
                "(authenticated, but check the user's or token's permissions)"
            )
        return CheckResult(
            name=self.name, kind=self.kind, url=self.url, reachable=True,
            authenticated=True, version=version, error=error,
        )

    async def get_model(self, model: str) -> RegisteredModel:
        return parse_model(await self.client.get_registered_model(model))

    async def search_versions(self, model: str) -> list[ModelVersion]:
        # Search results omit aliases; the registered model lists them. Reading the model
        # first also turns an unknown model into a 404 instead of an empty list.
        registered = await self.get_model(model)
        by_version: dict[str, list[str]] = {}
        for alias, version in registered.aliases.items():
            by_version.setdefault(version, []).append(alias)
        versions = [
            parse_version(raw, tuple(sorted(by_version.get(str(raw["version"]), []))))
            for raw in await self.client.search_model_versions(model)
        ]
        return sorted(versions, key=lambda v: v.number, reverse=True)

    async def get_version(self, model: str, version: str) -> ModelVersion:
        return parse_version(await self.client.get_model_version(model, version))

    async def get_alias(self, model: str, alias: str) -> ModelVersion | None:
        # Read through the registered model: MLflow answers a missing alias with a 400
        # that a bad request would also produce, while a missing model is a clear 404.
        registered = await self.get_model(model)
        version = registered.aliases.get(alias)
        if version is None:
            return None
        return await self.get_version(model, version)

    async def set_alias(self, model: str, alias: str, version: str) -> None:
        await self.client.set_alias(model, alias, version)

    async def delete_alias(self, model: str, alias: str) -> None:
        await self.client.delete_alias(model, alias)

    async def set_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        await self.client.set_version_tag(model, version, key, value)

    async def delete_version_tag(self, model: str, version: str, key: str) -> None:
        await self.client.delete_version_tag(model, version, key)
