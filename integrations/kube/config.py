"""Where the Kubernetes API is and who we are: a kubeconfig file or the in-cluster account."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeconfigSource(BaseModel):
    """Credentials from a kubeconfig file (server, CA, token / token file / client certificate)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["kubeconfig"]
    path: Path
    #: The context to use; the file's ``current-context`` when omitted.
    context: str | None = None


class InClusterSource(BaseModel):
    """The pod's service account: token and CA mounted by Kubernetes, server from the env."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["in_cluster"]
    service_account_dir: Path = SERVICE_ACCOUNT_DIR
    #: API server URL; defaults to https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT.
    server: str | None = None


ClusterSource = Annotated[KubeconfigSource | InClusterSource, Field(discriminator="type")]
