"""Configuration of model-registry instances (``integrations.registries`` in the config file)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from integrations.credentials import AuthConfig, NoAuth
from integrations.http import HttpPolicy


class MlflowRegistryConfig(BaseModel):
    """An MLflow tracking server (2.x or 3.x) reached over its REST API."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["mlflow"]
    #: Base URL of the tracking server, e.g. ``https://mlflow.internal:5000``.
    url: str
    auth: AuthConfig = Field(default_factory=NoAuth)
    http: HttpPolicy = Field(default_factory=HttpPolicy)
    #: Version tag marking a known-good version; rollback falls back to the newest one.
    validated_tag: str = Field("validated", min_length=1)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


#: One member today; a discriminated union on ``kind`` as implementations are added.
RegistryConfig = Annotated[MlflowRegistryConfig, Field(discriminator="kind")]
