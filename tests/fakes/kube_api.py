"""A fake Kubernetes API server for KServe ``InferenceService`` objects, over real HTTP.

Kubernetes cannot run in the test environment; this server speaks its REST conventions for
the one resource the bot touches, so the production client is tested over the wire:

- ``GET`` / ``PATCH /apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices/{name}``
  and ``PATCH .../{name}/status`` (the status subresource: main-resource patches drop
  ``status``, status patches touch only ``status``);
- patches only as ``application/merge-patch+json`` (RFC 7386); a strategic-merge patch (or any
  other type) answers 415 like the API server does for custom resources;
- ``metadata.resourceVersion`` in a patch is a precondition (409 Conflict when stale); every
  write bumps the (cluster-wide) resourceVersion, spec writes bump ``metadata.generation``;
- errors are ``Status`` objects (``kind: Status``, ``reason``, ``code``, ``details``);
- bearer tokens map to allowed verbs: unknown token 401, missing verb 403; a
  ``SelfSubjectAccessReview`` answers what a token may do; ``GET /version`` is public;
- the fields the bot writes are validated against KServe's published CRD schema
  (``canaryTrafficPercent`` integer, ``model.modelFormat.name`` required, ``storageUri``
  string): 422 Invalid with field causes;
- a KServe controller is simulated on each spec change, in Serverless mode: a new predictor
  revision when the model changes, traffic split between the last rolled-out revision (tag
  ``prev``) and the latest by ``canaryTrafficPercent``, ``Ready`` conditions and
  ``observedGeneration``. RawDeployment mode has no revisions or traffic split.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.threaded_uvicorn import ThreadedUvicorn
from tests.system.servers import free_port

GROUP, VERSION = "serving.kserve.io", "v1beta1"
PLURAL, KIND = "inferenceservices", "InferenceService"
ISVC = f"/apis/{GROUP}/{VERSION}/namespaces/{{ns}}/{PLURAL}/{{name}}"
MERGE_PATCH = "application/merge-patch+json"
DEFAULT_USER = "system:serviceaccount:ml:incident-bot"


def status_body(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.body = status_body(code, reason, message, **details)
        self.code = code


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclass
class Recorded:
    method: str
    path: str
    content_type: str | None
    body: Any = None


@dataclass
class FakeKubeApi:
    #: bearer token → verbs it may use on inferenceservices ("get", "patch").
    tokens: dict[str, set[str]] = field(default_factory=dict)
    #: verbs for requests without a token (a TLS client certificate the server accepted).
    cert_user_verbs: set[str] | None = None
    #: False: the simulated controller stops reconciling (status lags the spec).
    reconcile: bool = True
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    _rv: int = 1000
    _hooks: list[Callable[[FakeKubeApi], None]] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- test-side helpers -------------------------------------------------------------------

    def add_inference_service(
        self,
        namespace: str,
        name: str,
        storage_uri: str,
        *,
        model_format: str = "sklearn",
        canary: int | None = None,
        annotations: dict[str, str] | None = None,
        deployment_mode: str | None = None,
        framework: str | None = None,
    ) -> dict[str, Any]:
        """Create an InferenceService as `kubectl apply` would, already reconciled."""
        impl = {"storageUri": storage_uri}
        predictor: dict[str, Any] = (
            {framework: impl} if framework else {"model": {"modelFormat": {"name": model_format}, **impl}}
        )
        if canary is not None:
            predictor["canaryTrafficPercent"] = canary
        notes = dict(annotations or {})
        if deployment_mode:
            notes["serving.kserve.io/deploymentMode"] = deployment_mode
        obj: dict[str, Any] = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {
                "name": name,
                "namespace": namespace,
                "annotations": notes,
                "generation": 1,
                "uid": f"uid-{namespace}-{name}",
                "creationTimestamp": _now(),
            },
            "spec": {"predictor": predictor},
        }
        with self._lock:
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self._reconcile(obj, None)
            self.objects[(namespace, name)] = obj
            return copy.deepcopy(obj)

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.objects[(namespace, name)])

    def write(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        """Another writer (a deploy pipeline, kubectl) merge-patches the object."""
        with self._lock:
            self._patch_main(self.objects[(namespace, name)], patch)

    def set_ready(self, namespace: str, name: str, ready: bool, reason: str = "", message: str = "") -> None:
        """The controller reports readiness (a status-only write)."""
        with self._lock:
            obj = self.objects[(namespace, name)]
            _set_conditions(obj, ready, reason, message)
            obj["metadata"]["resourceVersion"] = self._next_rv()

    def before_next_patch(self, hook: Callable[[FakeKubeApi], None]) -> None:
        """Run ``hook`` when the next PATCH arrives, before it is checked (a race)."""
        self._hooks.append(hook)

    def patches(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "PATCH"]

    # -- HTTP --------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/version", self._version, methods=["GET"]),
                Route(
                    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", self._review, methods=["POST"]
                ),
                Route(ISVC, self._isvc, methods=["GET", "PATCH"]),
                Route(ISVC + "/status", self._isvc_status, methods=["GET", "PATCH"]),
            ]
        )

    async def _version(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake", "platform": "linux/amd64"}
        )

    async def _review(self, request: Request) -> JSONResponse:
        try:
            verbs = self._verbs(request)
        except ApiError as exc:
            return JSONResponse(exc.body, status_code=exc.code)
        review = await request.json()
        attrs = review.get("spec", {}).get("resourceAttributes", {})
        allowed = (
            attrs.get("group") == GROUP and attrs.get("resource") == PLURAL and attrs.get("verb") in verbs
        )
        review["status"] = {"allowed": allowed}
        if allowed:
            review["status"]["reason"] = 'RBAC: allowed by RoleBinding "incident-bot"'
        return JSONResponse(review, status_code=201)

    async def _isvc(self, request: Request) -> JSONResponse:
        return await self._handle(request, subresource=False)

    async def _isvc_status(self, request: Request) -> JSONResponse:
        return await self._handle(request, subresource=True)

    async def _handle(self, request: Request, subresource: bool) -> JSONResponse:
        ns, name = request.path_params["ns"], request.path_params["name"]
        content_type = request.headers.get("content-type")
        body = await request.body()
        self.requests.append(Recorded(request.method, request.url.path, content_type, _json_or_none(body)))
        try:
            verb = "get" if request.method == "GET" else "patch"
            if verb not in self._verbs(request):
                raise ApiError(
                    403,
                    "Forbidden",
                    f'{PLURAL}.{GROUP} "{name}" is forbidden: User "{DEFAULT_USER}" '
                    f'cannot {verb} resource "{PLURAL}" in API group "{GROUP}" in '
                    f'the namespace "{ns}"',
                    name=name,
                    group=GROUP,
                    kind=PLURAL,
                )
            with self._lock:
                if request.method == "GET":
                    return JSONResponse(copy.deepcopy(self._find(ns, name)))
                return JSONResponse(self._patch(ns, name, content_type, body, subresource))
        except ApiError as exc:
            return JSONResponse(exc.body, status_code=exc.code)

    def _verbs(self, request: Request) -> set[str]:
        header = request.headers.get("authorization", "")
        if not header and self.cert_user_verbs is not None:
            return self.cert_user_verbs
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        if token is None or token not in self.tokens:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return self.tokens[token]

    def _find(self, ns: str, name: str) -> dict[str, Any]:
        obj = self.objects.get((ns, name))
        if obj is None:
            raise ApiError(
                404, "NotFound", f'{PLURAL}.{GROUP} "{name}" not found', name=name, group=GROUP, kind=PLURAL
            )
        return obj

    def _patch(
        self, ns: str, name: str, content_type: str | None, body: bytes, subresource: bool
    ) -> dict[str, Any]:
        if (content_type or "").split(";")[0].strip() != MERGE_PATCH:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media "
                "types include: application/json-patch+json, "
                "application/merge-patch+json, application/apply-patch+yaml",
            )
        patch = _json_or_none(body)
        if not isinstance(patch, dict):
            raise ApiError(400, "BadRequest", "error decoding patch: the patch is not a JSON object")
        while self._hooks:
            self._hooks.pop(0)(self)
        obj = self._find(ns, name)
        wanted_rv = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted_rv is not None and wanted_rv != obj["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {PLURAL}.{GROUP} "{name}": the '
                "object has been modified; please apply your changes to the latest "
                "version and try again",
                name=name,
                group=GROUP,
                kind=PLURAL,
            )
        if subresource:
            updated = merge_patch(obj.get("status") or {}, patch.get("status") or {})
            if updated != obj.get("status"):
                obj["status"] = updated
                obj["metadata"]["resourceVersion"] = self._next_rv()
        else:
            self._patch_main(obj, patch)
        return copy.deepcopy(obj)

    def _patch_main(self, obj: dict[str, Any], patch: dict[str, Any]) -> None:
        patch = {k: v for k, v in patch.items() if k != "status"}  # status is a subresource
        meta_patch = {
            k: v for k, v in (patch.get("metadata") or {}).items() if k in ("labels", "annotations")
        }
        patch["metadata"] = meta_patch
        updated = merge_patch({k: v for k, v in obj.items() if k != "status"}, patch)
        _validate(updated)
        if updated == {k: v for k, v in obj.items() if k != "status"}:
            return  # a no-op patch writes nothing: same resourceVersion
        old_spec = obj.get("spec")
        status = obj.get("status")
        obj.clear()
        obj.update(updated)
        if status is not None:
            obj["status"] = status
        if updated.get("spec") != old_spec:
            obj["metadata"]["generation"] += 1
            if self.reconcile:
                self._reconcile(obj, old_spec)
        obj["metadata"]["resourceVersion"] = self._next_rv()

    # -- the simulated KServe controller ---------------------------------------------------

    def _reconcile(self, obj: dict[str, Any], old_spec: dict[str, Any] | None) -> None:
        status = obj.setdefault("status", {})
        annotations = obj["metadata"].get("annotations") or {}
        mode = annotations.get("serving.kserve.io/deploymentMode", "Serverless")
        status["deploymentMode"] = mode
        status["observedGeneration"] = obj["metadata"]["generation"]
        status["url"] = f"http://{obj['metadata']['name']}.{obj['metadata']['namespace']}.example.com"
        _set_conditions(obj, True, "", "")
        if mode != "Serverless":
            return
        predictor = obj["spec"]["predictor"]
        component = status.setdefault("components", {}).setdefault("predictor", {})
        model_part = {k: v for k, v in predictor.items() if k != "canaryTrafficPercent"}
        old_model = {
            k: v for k, v in ((old_spec or {}).get("predictor") or {}).items() if k != "canaryTrafficPercent"
        }
        if old_spec is None or model_part != old_model:
            number = int(component.get("latestCreatedRevision", "-0").rsplit("-", 1)[1]) + 1
            revision = f"{obj['metadata']['name']}-predictor-{number:05d}"
            component["latestCreatedRevision"] = component["latestReadyRevision"] = revision
        latest = component["latestReadyRevision"]
        rolled = component.get("latestRolledoutRevision")
        canary = predictor.get("canaryTrafficPercent")
        if canary is None or canary >= 100 or rolled is None or rolled == latest:
            if rolled is not None and rolled != latest:
                component["previousRolledoutRevision"] = rolled
            component["latestRolledoutRevision"] = latest
            component["traffic"] = [
                {"revisionName": latest, "percent": 100, "latestRevision": True, "tag": "latest"}
            ]
        else:
            component["traffic"] = [
                {"revisionName": latest, "percent": canary, "latestRevision": True, "tag": "latest"},
                {"revisionName": rolled, "percent": 100 - canary, "latestRevision": False, "tag": "prev"},
            ]

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)


def _validate(obj: dict[str, Any]) -> None:
    """The CRD schema's rules for the fields the bot writes (openAPIV3Schema, v1beta1)."""
    name = obj["metadata"]["name"]
    causes = []
    for key, value in (obj["metadata"].get("annotations") or {}).items():
        if not isinstance(value, str):
            raise ApiError(
                400,
                "BadRequest",
                "json: cannot unmarshal "
                f"{type(value).__name__} into Go struct field ObjectMeta.metadata."
                f"annotations of type string (annotation {key})",
            )
    predictor = (obj.get("spec") or {}).get("predictor")
    if not isinstance(predictor, dict):
        causes.append(("spec.predictor", "Required value", "FieldValueRequired"))
        predictor = {}
    canary = predictor.get("canaryTrafficPercent")
    if canary is not None and (not isinstance(canary, int) or isinstance(canary, bool)):
        causes.append(
            (
                "spec.predictor.canaryTrafficPercent",
                f'Invalid value: "{type(canary).__name__}": '
                "spec.predictor.canaryTrafficPercent in body must be of type integer",
                "FieldValueTypeInvalid",
            )
        )
    model = predictor.get("model")
    if model is not None:
        if not isinstance((model.get("modelFormat") or {}).get("name"), str):
            causes.append(("spec.predictor.model.modelFormat.name", "Required value", "FieldValueRequired"))
        if "storageUri" in model and not isinstance(model["storageUri"], str):
            causes.append(
                (
                    "spec.predictor.model.storageUri",
                    "spec.predictor.model.storageUri in body must be of type string",
                    "FieldValueTypeInvalid",
                )
            )
    if causes:
        raise ApiError(
            422,
            "Invalid",
            f'{KIND}.{GROUP} "{name}" is invalid: ' + ", ".join(f"{f}: {m}" for f, m, _ in causes),
            name=name,
            group=GROUP,
            kind=KIND,
            causes=[{"reason": r, "message": m, "field": f} for f, m, r in causes],
        )


def _set_conditions(obj: dict[str, Any], ready: bool, reason: str, message: str) -> None:
    status = obj.setdefault("status", {})
    value = "True" if ready else "False"
    conditions = []
    for kind in ("IngressReady", "PredictorReady", "Ready"):
        condition: dict[str, Any] = {"type": kind, "status": value, "lastTransitionTime": _now()}
        if not ready and reason:
            condition["reason"] = reason
        if not ready and message:
            condition["message"] = message
        conditions.append(condition)
    status["conditions"] = conditions


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    #: CA that signs client certificates; set to require one (mutual TLS).
    client_ca: Path | None = None


@contextlib.contextmanager
def serve(api: FakeKubeApi, tls: TlsFiles | None = None) -> Iterator[str]:
    """Run the fake on 127.0.0.1 in a thread; yield its base URL."""
    with serve_asgi(api.app(), tls) as url:
        yield url


@contextlib.contextmanager
def serve_asgi(app: Any, tls: TlsFiles | None = None) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free port of 127.0.0.1 in a thread."""
    port = free_port()
    options: dict[str, Any] = {}
    if tls is not None:
        options = {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)}
        if tls.client_ca is not None:
            options |= {"ssl_ca_certs": str(tls.client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    server = ThreadedUvicorn(app, port, name="the local test server", **options)
    server.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.stop()
