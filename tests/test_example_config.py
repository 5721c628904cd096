"""The documented example configuration stays valid."""

from __future__ import annotations

from pathlib import Path

from bot.config import load_settings
from bot.runtime import build_authorizer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "config.yaml"


def test_example_config_loads_with_every_section() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert set(settings.alerts.sources) >= {"alertmanager", "grafana", "feature-store-monitor"}
    assert [r.name for r in settings.alerts.routes] == ["fraud-model-page", "drift-warnings"]
    assert set(settings.integrations.registries) == {"prod-mlflow"}
    assert set(settings.integrations.serving) == {"prod-kserve"}
    assert set(settings.integrations.orchestrators) == {"airflow"}
    assert set(settings.integrations.metrics) == {"prometheus"}
    assert settings.slack.broadcast_channel == "#incidents"
    assert settings.runbooks.approval_expiry == 1800
    assert settings.permissions.approve_runbooks == ["role:commander", "@ml-leads"]
    assert [p.id for p in settings.people] == ["alice", "bob"]
    directory = build_authorizer(settings).directory
    assert directory.slack_user("U01ALICE", "a").id == "alice"
    assert directory.api_token("alice-laptop").id == "alice"
    assert directory.groups["@ml-leads"] == {"alice", "bob"}
