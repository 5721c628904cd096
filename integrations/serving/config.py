"""Configuration of serving instances (``integrations.serving.<name>`` in the config file)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from jinja2 import TemplateSyntaxError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from integrations.credentials import AuthConfig, NoAuth, SecretRef
from integrations.http import HttpPolicy
from integrations.kube.config import ClusterSource
from integrations.serving.templates import TEMPLATES

RouteValue = str | bool | int | float

# Kubernetes object names (RFC 1123 labels / subdomains).
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServedModel(_Strict):
    """A registered model this serving instance serves (``serves:``): ``serving.ensure_version``
    makes every instance that serves a model serve the version it is asked for."""

    #: The registered model's name in the registry.
    model: str = Field(min_length=1)
    #: Its name on this serving layer (MLServer model, InferenceService); default: ``model``.
    name: str | None = Field(None, min_length=1)
    #: The registry alias the layer loads (MLServer with ``models:/<model>@<alias>``): it serves
    #: what the alias points to when it (re)loads, so a new version is served by reloading
    #: once the alias points at it.
    alias: str | None = Field(None, min_length=1)
    #: What to load for a version, when the layer is pointed at a URI (KServe storageUri, an HTTP
    #: router): a template with ``{model}``, ``{version}`` and ``{source}`` (the version's
    #: artifact location in the registry, the default).
    uri: str = Field("{source}", min_length=1)
    #: The registry instance; the only configured one when omitted.
    registry: str | None = None

    @property
    def served_name(self) -> str:
        return self.name or self.model

    def uri_for(self, version: str, source: str) -> str:
        return self.uri.format(model=self.model, version=version, source=source)

    @field_validator("uri")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        try:
            value.format(model="m", version="1", source="s")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"use only {{model}}, {{version}} and {{source}} ({exc})") from None
        return value


class KServeFallback(_Strict):
    """The naive/baseline model an InferenceService switches to."""

    model_uri: str = Field(min_length=1)
    #: Set when the baseline needs another runtime (``predictor.model.modelFormat.name``).
    model_format: str | None = None


class KServeConfig(_Strict):
    kind: Literal["kserve"]
    cluster: ClusterSource
    #: Namespace of the InferenceServices; default: the kubeconfig context's or the pod's.
    namespace: str | None = None
    #: Served model (InferenceService name) → its fallback.
    fallbacks: dict[str, KServeFallback] = {}
    #: Registered models it serves, for serving.ensure_version (storageUri per version).
    serves: list[ServedModel] = []
    http: HttpPolicy = HttpPolicy()

    @field_validator("namespace")
    @classmethod
    def _namespace_is_a_name(cls, value: str | None) -> str | None:
        if value is not None and not _K8S_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid Kubernetes namespace name")
        return value


class MLServerFallback(_Strict):
    #: Name of the fallback model in MLServer's model repository.
    model: str = Field(min_length=1)


class MLServerConfig(_Strict):
    kind: Literal["mlserver"]
    url: str
    auth: AuthConfig = NoAuth()
    #: Served model name → its fallback model.
    fallbacks: dict[str, MLServerFallback] = {}
    #: Registered models it serves, for serving.ensure_version (``alias``: the model's URI is
    #: ``models:/<model>@<alias>`` and a reload serves what the alias points to).
    serves: list[ServedModel] = []
    http: HttpPolicy = HttpPolicy()


class RequestTemplate(_Strict):
    """One HTTP call. ``url`` (relative to the instance's ``url``, or absolute) and ``body``
    are Jinja2 templates rendered in a sandbox with ``model`` and, for ``set_route``,
    ``route`` (use ``{{ route | tojson }}`` in JSON bodies); an unknown variable is an error."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    headers: dict[str, str] = {}
    body: str | None = None

    @field_validator("url", "body")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                TEMPLATES.parse(value)
            except TemplateSyntaxError as exc:
                raise ValueError(f"invalid template (line {exc.lineno}): {exc.message}") from None
        return value


class GetRouteRequest(RequestTemplate):
    #: Where the current route sits in the JSON answer: dotted keys and list indexes,
    #: e.g. ``route`` or ``environments.0.enabled``.
    route_field: str = Field(min_length=1)


class HealthRequest(RequestTemplate):
    healthy_statuses: list[int] = [200]
    #: Optional JSON field that must hold one of ``healthy_values``, e.g. ``status`` / ["UP"].
    field: str | None = None
    healthy_values: list[RouteValue] = []


class GetVersionRequest(RequestTemplate):
    #: Where the served version sits in the JSON answer (dotted keys and list indexes).
    version_field: str = Field(min_length=1)


class HttpRoutes(_Strict):
    """The two values of a model's route (a router target, a feature-flag variant or on/off)."""

    primary: RouteValue
    fallback: RouteValue


class HttpServingConfig(_Strict):
    kind: Literal["http"]
    url: str
    auth: AuthConfig = NoAuth()
    #: Headers whose values are secrets, e.g. ``Authorization: {env: UNLEASH_ADMIN_TOKEN}``.
    secret_headers: dict[str, SecretRef] = {}
    get_route: GetRouteRequest
    set_route: RequestTemplate
    health: HealthRequest | None = None
    #: Served model → its primary and fallback route values.
    fallbacks: dict[str, HttpRoutes] = {}
    #: The version a model serves, and how to serve another one (``model``, ``version`` and
    #: ``uri`` in the templates): serving.ensure_version with ``serves``.
    get_version: GetVersionRequest | None = None
    set_version: RequestTemplate | None = None
    serves: list[ServedModel] = []
    http: HttpPolicy = HttpPolicy()


ServingConfig = Annotated[KServeConfig | MLServerConfig | HttpServingConfig, Field(discriminator="kind")]
