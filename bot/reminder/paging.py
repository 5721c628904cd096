"""The paging webhook called on escalation: one JSON POST per attempt (retries are durable,
driven by the ``reminder`` row), the secret header from config, never the URL in errors.

The URL's path and query may carry a key (many paging services put one there), so errors
and logs name only its scheme and host.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from integrations.http import HttpPolicy, ServiceClient


class PagingWebhook:
    def __init__(
        self,
        url: str,
        *,
        secret: SecretStr | None = None,
        header: str = "Authorization",
        policy: HttpPolicy | None = None,
    ) -> None:
        parts = urlsplit(url)
        self._path = parts.path or "/"
        if parts.query:
            self._path += f"?{parts.query}"
        headers = {header: secret.get_secret_value()} if secret is not None else {}
        self._client = ServiceClient(
            kind="paging webhook",
            base_url=f"{parts.scheme}://{parts.netloc}",
            policy=policy or HttpPolicy(retries=0, read_timeout_s=10.0),
            headers=headers,
        )

    @property
    def system(self) -> str:
        return self._client.system

    async def page(self, body: dict[str, Any]) -> None:
        """POST ``body``; raises Retryable/RejectedIntegrationError naming host and status."""
        await self._client.request("POST", self._path, call="paging the on-call group", json=body)

    async def aclose(self) -> None:
        await self._client.aclose()
