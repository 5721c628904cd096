"""The ``integrations:`` config section: named instances of each kind.

```yaml
integrations:
  registries:    {prod-mlflow: {kind: mlflow, url: https://mlflow.internal}}
  serving:       {prod-kserve: {kind: kserve, cluster: {type: in_cluster}, namespace: ml}}
  orchestrators: {airflow: {kind: airflow, url: https://airflow.internal, auth: {...}}}
  metrics:       {prom: {kind: prometheus, url: http://prometheus:9090}}
  http_request:  {allowed_hosts: {"hooks.internal": {}}}
```
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from integrations.http_action import HttpActionConfig
from integrations.metrics.config import MetricsConfig
from integrations.orchestrator.config import OrchestratorConfig
from integrations.registry.config import RegistryConfig
from integrations.serving.config import ServingConfig


class IntegrationsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registries: dict[str, RegistryConfig] = Field(default_factory=dict)
    serving: dict[str, ServingConfig] = Field(default_factory=dict)
    orchestrators: dict[str, OrchestratorConfig] = Field(default_factory=dict)
    metrics: dict[str, MetricsConfig] = Field(default_factory=dict)
    http_request: HttpActionConfig = Field(default_factory=HttpActionConfig)
