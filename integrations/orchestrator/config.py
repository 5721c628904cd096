"""Configuration of training orchestrators (``integrations.orchestrators`` in the config file)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from integrations.credentials import AuthConfig, NoAuth
from integrations.http import HttpPolicy


class AirflowConfig(BaseModel):
    """Apache Airflow's stable REST API.

    ``url`` is the API server (Airflow 3) or webserver (Airflow 2) root. ``api_version`` 2
    is Airflow 3 (``/api/v2``; ``auth: basic`` exchanges username/password for a JWT at
    ``/auth/token``, ``auth: bearer`` sends a token you issued); 1 is Airflow 2
    (``/api/v1``; ``auth: basic`` is HTTP basic auth, which needs the basic_auth API
    backend). Omitted: detected from ``/api/v2/version`` then ``/api/v1/version``.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["airflow"]
    url: AnyHttpUrl
    auth: AuthConfig = Field(default_factory=NoAuth)
    api_version: Literal[1, 2] | None = None
    http: HttpPolicy = Field(default_factory=HttpPolicy)


class PrefectConfig(BaseModel):
    """A Prefect server or Prefect Cloud workspace.

    ``url`` is the API URL as in ``PREFECT_API_URL``: ``http://prefect:4200/api`` or
    ``https://api.prefect.cloud/api/accounts/<id>/workspaces/<id>``. ``auth: bearer`` sends
    a Prefect Cloud API key; ``auth: basic`` matches a server started with
    ``PREFECT_SERVER_API_AUTH_STRING=user:password``.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["prefect"]
    url: AnyHttpUrl
    auth: AuthConfig = Field(default_factory=NoAuth)
    http: HttpPolicy = Field(default_factory=HttpPolicy)


OrchestratorConfig = Annotated[AirflowConfig | PrefectConfig, Field(discriminator="kind")]
