"""Reading and patching KServe ``InferenceService`` objects (serving.kserve.io/v1beta1).

Pure functions over the JSON object, so the rules are testable without a server:

- the model lives in ``spec.predictor.model`` (``storageUri``, ``modelFormat.name``) or, in
  the older style, in ``spec.predictor.<framework>`` (``sklearn``, ``xgboost``...);
- ``spec.predictor.canaryTrafficPercent`` splits traffic between the last rolled-out
  revision and the newest one, in Serverless (Knative) mode only;
- ``status.conditions`` (type ``Ready``) and ``status.components.predictor.traffic`` say what
  is served.

The bot records what it replaced in annotations, so it can go back without guessing:
``incident-bot/previous-storage-uri`` (the URI before the bot's last change, which a deploy
pipeline may also set) and ``incident-bot/fallback-from`` (JSON: the primary model the
fallback replaced).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from bot.errors import InputError

PREVIOUS_URI = "incident-bot/previous-storage-uri"
FALLBACK_FROM = "incident-bot/fallback-from"
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
API_PATH = "/apis/serving.kserve.io/v1beta1"
FRAMEWORKS = (
    "sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "triton", "onnx", "pmml",
    "paddle", "huggingface",
)  # fmt: skip


_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def valid_name(name: str) -> bool:
    """InferenceService names are DNS-1035 labels; this also keeps them out of URL tricks."""
    return bool(_NAME.match(name))


def isvc_path(namespace: str, name: str) -> str:
    return f"{API_PATH}/namespaces/{namespace}/inferenceservices/{name}"


@dataclass(frozen=True)
class IsvcView:
    """The parts of an InferenceService the serving actions read."""

    name: str
    namespace: str
    resource_version: str
    predictor_key: str
    storage_uri: str | None
    model_format: str | None
    canary_percent: int | None
    serverless: bool
    deployment_mode: str
    annotations: dict[str, str]
    generation: int | None
    observed_generation: int | None
    ready: bool | None
    ready_reason: str
    ready_message: str
    traffic: list[dict[str, Any]] = field(default_factory=list)

    @property
    def canary_in_flight(self) -> bool:
        return self.serverless and self.canary_percent is not None and 0 < self.canary_percent < 100

    @property
    def fallback_from(self) -> dict[str, Any] | None:
        raw = self.annotations.get(FALLBACK_FROM)
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) and value.get("storageUri") else None

    def rolled_back_revision(self) -> str | None:
        """The revision that keeps traffic when the canary goes to 0 (tag ``prev``)."""
        for target in self.traffic:
            if target.get("tag") == "prev" or target.get("latestRevision") is False:
                return str(target.get("revisionName"))
        return None

    def guard(self) -> tuple[Any, ...]:
        """The fields a change depends on; if they moved, a planned change is stale."""
        return (
            self.storage_uri,
            self.model_format,
            self.canary_percent,
            self.annotations.get(PREVIOUS_URI),
            self.annotations.get(FALLBACK_FROM),
        )

    def public_details(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "resource_version": self.resource_version,
            "generation": self.generation,
            "observed_generation": self.observed_generation,
            "deployment_mode": self.deployment_mode,
            "model_format": self.model_format,
            "ready": self.ready,
            "ready_reason": self.ready_reason or None,
            "ready_message": self.ready_message or None,
            "traffic": [
                {k: t[k] for k in ("revisionName", "percent", "tag", "latestRevision") if k in t}
                for t in self.traffic
            ],
            "previous_storage_uri": self.annotations.get(PREVIOUS_URI),
            "fallback_from": self.fallback_from,
        }


def view(obj: dict[str, Any]) -> IsvcView:
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    predictor = spec.get("predictor") or {}
    key = _predictor_key(predictor)
    impl = predictor.get(key) or {}
    model_format = (impl.get("modelFormat") or {}).get("name") if key == "model" else key
    annotations = {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}
    traffic = ((status.get("components") or {}).get("predictor") or {}).get("traffic") or []
    mode = str(status.get("deploymentMode") or annotations.get(DEPLOYMENT_MODE) or "")
    ready = _condition(status, "Ready")
    canary = predictor.get("canaryTrafficPercent")
    return IsvcView(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        resource_version=str(metadata.get("resourceVersion", "")),
        predictor_key=key,
        storage_uri=impl.get("storageUri"),
        model_format=model_format,
        canary_percent=int(canary) if isinstance(canary, int | float) else None,
        # Knative traffic in the status is the surest sign of Serverless mode; older
        # KServe releases do not report deploymentMode.
        serverless=mode == "Serverless" or (not mode and bool(traffic)),
        deployment_mode=mode or ("Serverless" if traffic else "unknown"),
        annotations=annotations,
        generation=metadata.get("generation"),
        observed_generation=status.get("observedGeneration"),
        ready=None if ready is None else ready.get("status") == "True",
        ready_reason=str((ready or {}).get("reason") or ""),
        ready_message=str((ready or {}).get("message") or ""),
        traffic=[t for t in traffic if isinstance(t, dict)],
    )


def _predictor_key(predictor: dict[str, Any]) -> str:
    if "model" in predictor or not any(k in predictor for k in FRAMEWORKS):
        return "model"
    return next(k for k in FRAMEWORKS if k in predictor)


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            return condition
    return None


@dataclass(frozen=True)
class Target:
    """Where a change takes the InferenceService. ``None`` fields stay as they are;
    ``remove_canary`` deletes canaryTrafficPercent (full rollout of the newest revision);
    annotation values of ``None`` delete the annotation."""

    storage_uri: str | None = None
    model_format: str | None = None
    canary_percent: int | None = None
    remove_canary: bool = False
    annotations: dict[str, str | None] = field(default_factory=dict)

    def reached_by(self, isvc: IsvcView) -> bool:
        """True when the object already is at this target (apply would change nothing)."""
        if self.storage_uri is not None and isvc.storage_uri != self.storage_uri:
            return False
        if self.model_format is not None and isvc.model_format != self.model_format:
            return False
        if self.remove_canary and isvc.canary_percent is not None:
            return False
        if self.canary_percent is not None and isvc.canary_percent != self.canary_percent:
            return False
        return all(isvc.annotations.get(k) == v for k, v in self.annotations.items())

    def predict(self, isvc: IsvcView) -> IsvcView:
        """The object as it would be after the change (for dry-run plans)."""
        annotations = dict(isvc.annotations)
        for key, value in self.annotations.items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value
        canary = None if self.remove_canary else isvc.canary_percent
        return replace(
            isvc,
            storage_uri=self.storage_uri if self.storage_uri is not None else isvc.storage_uri,
            model_format=self.model_format or isvc.model_format,
            canary_percent=self.canary_percent if self.canary_percent is not None else canary,
            annotations=annotations,
        )

    def merge_patch(self, isvc: IsvcView) -> dict[str, Any]:
        """RFC 7386 merge patch from ``isvc`` to this target, with a resourceVersion
        precondition so a concurrent change makes the API server answer 409."""
        impl: dict[str, Any] = {}
        if self.storage_uri is not None and self.storage_uri != isvc.storage_uri:
            impl["storageUri"] = self.storage_uri
        if self.model_format is not None and self.model_format != isvc.model_format:
            impl["modelFormat"] = {"name": self.model_format}
        predictor: dict[str, Any] = {isvc.predictor_key: impl} if impl else {}
        if self.canary_percent is not None and self.canary_percent != isvc.canary_percent:
            predictor["canaryTrafficPercent"] = self.canary_percent
        elif self.remove_canary and isvc.canary_percent is not None:
            predictor["canaryTrafficPercent"] = None
        metadata: dict[str, Any] = {"resourceVersion": isvc.resource_version}
        annotations = {k: v for k, v in self.annotations.items() if isvc.annotations.get(k) != v}
        if annotations:
            metadata["annotations"] = annotations
        patch: dict[str, Any] = {"metadata": metadata}
        if predictor:
            patch["spec"] = {"predictor": predictor}
        return patch


def fallback_from_annotation(isvc: IsvcView, fallback_format: str | None) -> str:
    """JSON naming the primary model a fallback replaces (format only when it changes)."""
    record: dict[str, Any] = {"storageUri": isvc.storage_uri}
    if fallback_format is not None and fallback_format != isvc.model_format:
        record["modelFormat"] = isvc.model_format
    return json.dumps(record, sort_keys=True)


def require_storage_uri(isvc: IsvcView) -> None:
    if not isvc.storage_uri:
        raise InputError(
            f"InferenceService {isvc.name} has no storageUri in predictor.{isvc.predictor_key}",
            hint="rollback and fallback switch the model by storageUri; custom containers "
            "need their own runbook",
        )


def pct(value: int | None) -> str:
    return "none" if value is None else f"{value}%"


def canary_note(value: int | None) -> str:
    return "" if value is None else f" (canary {value}%)"
