"""A thin async client of the Kubernetes REST API: GET, merge-PATCH, access reviews.

No ``kubernetes`` package: plain httpx through :class:`integrations.http.ServiceClient`
(timeouts, retries on connection errors and 5xx, circuit breaker). Kubernetes answers errors
with ``Status`` objects (``reason`` NotFound, Conflict, Forbidden...); they become
``RejectedIntegrationError`` naming the reason, the server's message and what to check.
Optimistic concurrency is the caller's: put ``metadata.resourceVersion`` in the patch and
handle status 409 (see :func:`is_conflict`).
"""

from __future__ import annotations

from typing import Any

import httpx

from bot.errors import IntegrationError, RejectedIntegrationError
from integrations.http import HttpPolicy, ServiceClient
from integrations.kube.credentials import ClusterCredentials

MERGE_PATCH = "application/merge-patch+json"

_HANDLED = (400, 401, 403, 404, 409, 415, 422)
_HINTS = {
    400: "the API server could not decode the request; check the values sent",
    401: "the API server refused the credentials: check the kubeconfig user or the service "
    "account token (expired or revoked?)",
    403: "grant the bot's identity this verb on this resource with a Role and RoleBinding",
    404: "check the resource name and namespace (and that the CRD is installed)",
    409: "the object changed since it was read; read it again and plan again",
    415: "the API server refused this patch type; custom resources take application/merge-patch+json",
    422: "the API server rejected the object as invalid; check the values sent",
}


def is_conflict(error: BaseException) -> bool:
    """True for a 409 Conflict (stale resourceVersion) from :meth:`KubeClient.merge_patch`."""
    return isinstance(error, RejectedIntegrationError) and error.status == 409


class KubeClient:
    """One API server, one identity."""

    def __init__(
        self,
        credentials: ClusterCredentials,
        *,
        policy: HttpPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        policy = policy or HttpPolicy()
        if transport is None:
            verify = credentials.verify if policy.verify_tls else False
            transport = httpx.AsyncHTTPTransport(verify=verify)
        self.credentials = credentials
        self._http = ServiceClient(
            kind="Kubernetes API",
            base_url=credentials.server,
            policy=policy,
            auth=credentials.auth,
            transport=transport,
            headers={"Accept": "application/json"},
        )
        self.system = self._http.system

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, path: str, *, call: str) -> dict[str, Any]:
        response = await self._http.request("GET", path, call=call, ok_statuses=_HANDLED)
        return self._json(response, call)

    async def merge_patch(self, path: str, patch: dict[str, Any], *, call: str) -> dict[str, Any]:
        """Apply an RFC 7386 merge patch. With ``metadata.resourceVersion`` in the patch the
        server refuses it (409) if the object changed since; retrying is then safe, which is
        why the call counts as idempotent for connection-error retries."""
        response = await self._http.request(
            "PATCH",
            path,
            call=call,
            idempotent="resourceVersion" in patch.get("metadata", {}),
            ok_statuses=_HANDLED,
            json=patch,
            headers={"Content-Type": MERGE_PATCH},
        )
        return self._json(response, call)

    async def server_version(self) -> str:
        body = await self.get("/version", call="reading the server version")
        return str(body.get("gitVersion", "unknown"))

    async def can_i(self, verb: str, *, group: str, resource: str, namespace: str) -> tuple[bool, str]:
        """Ask the API server whether our identity may ``verb`` the resource (like
        ``kubectl auth can-i``): (allowed, reason)."""
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": verb,
                    "group": group,
                    "resource": resource,
                }
            },
        }
        call = f"checking permission to {verb} {resource}.{group} in namespace {namespace}"
        response = await self._http.request(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            call=call,
            idempotent=True,  # a review creates nothing
            ok_statuses=_HANDLED,
            json=review,
        )
        status = self._json(response, call).get("status") or {}
        return bool(status.get("allowed")), str(status.get("reason") or "")

    def _json(self, response: httpx.Response, call: str) -> dict[str, Any]:
        if response.status_code >= 400:
            raise self._status_error(response, call)
        try:
            body = response.json()
        except ValueError:
            raise IntegrationError(
                f"{self.system}: answered {call} with a body that is not JSON",
                system=self.system,
                call=call,
                status=response.status_code,
                hint="check that the URL points at the Kubernetes API server, not a proxy page",
            ) from None
        if not isinstance(body, dict):
            raise IntegrationError(
                f"{self.system}: answered {call} with a JSON {type(body).__name__}, expected an object",
                system=self.system,
                call=call,
            )
        return body

    def _status_error(self, response: httpx.Response, call: str) -> RejectedIntegrationError:
        code = response.status_code
        reason, message = "", response.text.strip()[:300]
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("kind") == "Status":
            reason = str(body.get("reason") or "")
            message = str(body.get("message") or "")
        detail = ": ".join(p for p in (reason, message) if p)
        return RejectedIntegrationError(
            f"{self.system}: {code} {detail} on {call}",
            system=self.system,
            call=call,
            status=code,
            hint=_HINTS.get(code),
            reason=reason or None,
        )
