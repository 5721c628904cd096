"""Thin client of MLflow's model-registry REST API: one method per endpoint, JSON in and out.

Retries follow `ServiceClient`: GETs and DELETEs are retried on connection errors and 5xx.
MLflow's "set" endpoints are POSTs that put a value in place (an alias, a tag), so repeating
one lands on the same state; they are marked idempotent explicitly so they are retried too.
"""

from __future__ import annotations

from typing import Any

from bot.errors import InputError
from integrations.http import ServiceClient

_API = "/api/2.0/mlflow"
_PAGE_SIZE = 1000


def _name_filter(model: str) -> str:
    # MLflow's filter grammar takes '...' or "..." string literals, with no escape character.
    if "'" not in model:
        return f"name='{model}'"
    if '"' not in model:
        return f'name="{model}"'
    raise InputError(
        f"model name {model!r} has both ' and \"; MLflow's search filter cannot quote it",
        hint="rename the model or use a name without one of the quote characters",
    )


class MlflowClient:
    """Calls one MLflow server. Methods return MLflow's JSON objects unchanged."""

    def __init__(self, service: ServiceClient) -> None:
        self.service = service

    @property
    def system(self) -> str:
        return self.service.system

    async def aclose(self) -> None:
        await self.service.aclose()

    async def _get(self, path: str, call: str, params: dict[str, Any]) -> dict[str, Any]:
        response = await self.service.request("GET", f"{_API}/{path}", call=call, params=params)
        body: dict[str, Any] = response.json()
        return body

    async def server_version(self) -> tuple[int, str]:
        """Status and body of ``GET /version`` (401/403 when the server requires auth)."""
        response = await self.service.request(
            "GET", "/version", call="reading the server version", ok_statuses=(401, 403, 404)
        )
        return response.status_code, response.text.strip()

    async def probe_auth(self) -> int:
        """Status of the cheapest authenticated call (200, or 401/403)."""
        response = await self.service.request(
            "GET",
            f"{_API}/registered-models/search",
            call="listing registered models",
            params={"max_results": 1},
            ok_statuses=(401, 403),
        )
        return response.status_code

    async def get_registered_model(self, model: str) -> dict[str, Any]:
        body = await self._get(
            "registered-models/get", f"getting model {model!r}", {"name": model}
        )
        registered: dict[str, Any] = body["registered_model"]
        return registered

    async def search_model_versions(self, model: str) -> list[dict[str, Any]]:
        """All versions of ``model`` (its aliases are not in these results)."""
        versions: list[dict[str, Any]] = []
        params: dict[str, Any] = {"filter": _name_filter(model), "max_results": _PAGE_SIZE}
        while True:
            body = await self._get(
                "model-versions/search", f"searching versions of model {model!r}", params
            )
            versions.extend(body.get("model_versions", []))
            token = body.get("next_page_token")
            if not token:
                return versions
            params = {**params, "page_token": token}

    async def get_model_version(self, model: str, version: str) -> dict[str, Any]:
        body = await self._get(
            "model-versions/get",
            f"getting version {version} of model {model!r}",
            {"name": model, "version": version},
        )
        found: dict[str, Any] = body["model_version"]
        return found

    async def set_alias(self, model: str, alias: str, version: str) -> None:
        await self.service.request(
            "POST",
            f"{_API}/registered-models/alias",
            call=f"setting alias {alias!r} of model {model!r} to version {version}",
            # Set-to-target: a repeated POST leaves the alias where the first one put it.
            idempotent=True,
            json={"name": model, "alias": alias, "version": version},
        )

    async def delete_alias(self, model: str, alias: str) -> None:
        # MLflow takes the DELETE's arguments as a JSON body and answers 200 for a missing alias.
        await self.service.request(
            "DELETE",
            f"{_API}/registered-models/alias",
            call=f"deleting alias {alias!r} of model {model!r}",
            json={"name": model, "alias": alias},
        )

    async def set_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        await self.service.request(
            "POST",
            f"{_API}/model-versions/set-tag",
            call=f"setting tag {key!r} on version {version} of model {model!r}",
            # Overwrites the key with the same value when repeated: safe to retry.
            idempotent=True,
            json={"name": model, "version": version, "key": key, "value": value},
        )

    async def delete_version_tag(self, model: str, version: str, key: str) -> None:
        await self.service.request(
            "DELETE",
            f"{_API}/model-versions/delete-tag",
            call=f"deleting tag {key!r} on version {version} of model {model!r}",
            json={"name": model, "version": version, "key": key},
        )
