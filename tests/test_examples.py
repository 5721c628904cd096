"""examples/: the Prometheus rules pass promtool's checks and unit tests, the configs are valid
for Prometheus and Alertmanager, and the metrics the shipped runbooks verify are recorded by
the rules and documented in the metric contract."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.config import DEFAULT_RUNBOOKS_DIR
from bot.demo import configs

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
RULES = sorted((EXAMPLES / "prometheus" / "rules").glob("*.yml"))


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        reason = f"{name} is not installed (Debian: apt-get install prometheus prometheus-alertmanager)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def run(*cmd: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def recorded_names() -> set[str]:
    names = set()
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names


def test_promtool_checks_the_rules_and_runs_their_unit_tests() -> None:
    promtool = tool("promtool")
    assert [p.name for p in RULES] == ["model-alerting.rules.yml", "model-recording.rules.yml"]
    out = run(promtool, "check", "rules", *map(str, RULES))
    assert out.count("SUCCESS") == 2
    out = run(promtool, "test", "rules", str(EXAMPLES / "prometheus" / "tests" / "model-rules.test.yml"))
    assert "SUCCESS" in out


def test_the_example_configs_are_valid(tmp_path: Path) -> None:
    run(tool("promtool"), "check", "config", str(EXAMPLES / "prometheus" / "prometheus.yml"))
    run(tool("amtool"), "check-config", str(EXAMPLES / "alertmanager" / "alertmanager.yml"))
    # The demo's and the scenario test's: the same rules with shorter waits.
    timing = configs.Timing()
    rules = configs.write_rules(tmp_path / "rules", timing)
    run(tool("promtool"), "check", "rules", *map(str, rules))
    (tmp_path / "prometheus.yml").write_text(
        configs.prometheus_config("127.0.0.1:9105", "127.0.0.1:9093", rules, timing)
    )
    run(tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml"))
    (tmp_path / "password").write_text("x")
    (tmp_path / "alertmanager.yml").write_text(
        configs.alertmanager_config("http://127.0.0.1:8080", tmp_path / "password", timing)
    )
    run(tool("amtool"), "check-config", str(tmp_path / "alertmanager.yml"))


def test_the_metrics_the_shipped_runbooks_verify_are_recorded_and_documented() -> None:
    recorded = recorded_names()
    rollback = yaml.safe_load((DEFAULT_RUNBOOKS_DIR / "rollback-model.yaml").read_text())
    assert rollback["inputs"]["error_rate_metric"]["default"] in recorded
    assert configs.rollback_inputs(configs.Timing())["error_rate_metric"] in recorded
    contract = (ROOT / "docs" / "metrics-contract.md").read_text()
    for name in [*recorded, "model_predictions_total", "model_prediction_errors_total", "model_serving_up"]:
        assert f"`{name}`" in contract, name
