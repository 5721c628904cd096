"""Composition of integrations from config: every kind's actions, named config errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.errors import ConfigError
from integrations.settings import IntegrationsSettings
from integrations.wiring import build_integrations

EXPECTED_ACTIONS = {
    "http.request",
    "registry.set_alias",
    "registry.rollback_alias",
    "serving.enable_fallback",
    "serving.disable_fallback",
    "serving.rollback",
    "serving.health",
    "orchestrator.pause_schedule",
    "orchestrator.resume_schedule",
    "metrics.query",
    "metrics.wait_until",
}


async def test_every_kind_registers_its_actions_without_instances() -> None:
    integrations = build_integrations(IntegrationsSettings())
    assert set(integrations.actions.names()) >= EXPECTED_ACTIONS
    assert integrations.instances == []
    await integrations.aclose()


async def test_check_all_reports_each_instance_without_raising() -> None:
    settings = IntegrationsSettings.model_validate(
        {
            "registries": {
                "up": {"kind": "mlflow", "url": "http://mlflow.test"},
                "down": {"kind": "mlflow", "url": "http://down.test", "http": {"retries": 0}},
            }
        }
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "down.test":
            raise httpx.ConnectError("refused")
        return httpx.Response(200, text="3.17.2")

    integrations = build_integrations(settings, transport=httpx.MockTransport(handler))
    results = {r.name: r for r in await integrations.check_all()}
    await integrations.aclose()
    assert results["up"].ok
    assert results["up"].version == "3.17.2"
    assert not results["down"].reachable
    assert "down.test" in (results["down"].error or "")


def test_missing_secret_names_the_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    settings = IntegrationsSettings.model_validate(
        {
            "registries": {
                "secured": {
                    "kind": "mlflow",
                    "url": "http://x",
                    "auth": {"type": "bearer", "token": {"env": "NOPE_TOKEN"}},
                }
            }
        }
    )
    with pytest.raises(ConfigError, match=r"integrations\.registries\.secured: .*NOPE_TOKEN"):
        build_integrations(settings)


def test_cli_check_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(
        "integrations:\n  registries:\n    prod:\n      kind: mlflow\n"
        "      url: http://127.0.0.1:9\n      http: {retries: 0}\n"
    )
    runner = CliRunner()
    result = runner.invoke(app, ["--config", str(cfg), "integrations", "check"])
    assert result.exit_code == 1
    assert "prod" in result.output
    listed = runner.invoke(app, ["--config", str(cfg), "integrations", "actions"])
    assert listed.exit_code == 0
    assert "registry.rollback_alias" in listed.output
    cfg.write_text("integrations:\n  registries:\n    prod: {kind: mlflow, url: ftp://x}\n")
    bad = runner.invoke(app, ["--config", str(cfg), "integrations", "check"])
    assert bad.exit_code == 2
