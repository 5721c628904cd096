"""Start-up checks and `incident-bot config check`: every problem of a configuration at once,
each naming where it is written, the field and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import preflight
from bot.cli import app
from bot.config import DEFAULT_RUNBOOKS_DIR, DEFAULT_TEMPLATES_DIR, load_settings
from tests.system.servers import free_port

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "config.yaml"
EXAMPLE_SECRETS = {
    "MLFLOW_TOKEN": "integrations.registries.prod-mlflow.auth.token",
    "AIRFLOW_PASSWORD": "integrations.orchestrators.airflow.auth.password",
    "AM_WEBHOOK_PASSWORD": "alerts.sources.alertmanager.auth.password",
    "GRAFANA_WEBHOOK_SECRET": "alerts.sources.grafana.auth.secret",
    "FEATURE_MONITOR_SECRET": "alerts.sources.feature-store-monitor.auth.secret",
}
runner = CliRunner()


def lines(report: preflight.Report) -> list[str]:
    return [p.line() for p in report.problems]


def test_defaults_pass() -> None:
    report = preflight.check(load_settings())
    assert report.problems == []
    assert any(line.startswith("runbooks: 5 valid") for line in report.checked)


def test_every_missing_secret_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in EXAMPLE_SECRETS:
        monkeypatch.delenv(name, raising=False)
    report = preflight.check(load_settings(EXAMPLE))
    by_field = {p.field: p for p in report.problems}
    for variable, field in EXAMPLE_SECRETS.items():
        problem = by_field[field]
        assert problem.where == str(EXAMPLE)
        assert problem.what == f"environment variable {variable} is not set"
        assert problem.fix == f"set {variable} in the bot's environment"
    # With the secrets set, what is left is the one thing this machine cannot have: a pod.
    for variable in EXAMPLE_SECRETS:
        monkeypatch.setenv(variable, "s3cret")
    report = preflight.check(load_settings(EXAMPLE))
    assert [p.field for p in report.problems] == ["integrations.serving.prod-kserve"]
    assert "in-cluster Kubernetes config" in report.problems[0].what


def test_empty_and_unreadable_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(
        "alerts:\n  sources:\n"
        "    alertmanager: {auth: {type: bearer, token: {env: AM_TOKEN}}}\n"
        f"    grafana: {{auth: {{type: grafana_hmac, secret: {{file: {tmp_path / 'nope'}}}}}}}\n"
    )
    monkeypatch.setenv("AM_TOKEN", " ")
    found = lines(preflight.check(load_settings(cfg)))
    assert found == [
        f"{cfg}: alerts.sources.alertmanager.auth.token: environment variable AM_TOKEN is empty; "
        "give AM_TOKEN the secret's value",
        f"{cfg}: alerts.sources.grafana.auth.secret: cannot read secret file {tmp_path / 'nope'}: "
        "No such file or directory; check the path and the bot's permissions",
    ]


def test_missing_folders_and_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCIDENT_BOT_RUNBOOKS_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("INCIDENT_BOT_TEMPLATES_DIR", str(tmp_path))
    found = lines(preflight.check(load_settings()))
    assert found == [
        f"environment variable INCIDENT_BOT_RUNBOOKS_DIR: runbooks_dir: {tmp_path / 'nowhere'} does not "
        "exist; create it, or point runbooks_dir at an existing folder (unset: the shipped defaults)",
        f"environment variable INCIDENT_BOT_TEMPLATES_DIR: templates_dir: {tmp_path} has no "
        f"postmortem.md.j2; copy the shipped one from {DEFAULT_TEMPLATES_DIR / 'postmortem.md.j2'}",
    ]


def test_invalid_runbooks_and_routes_to_unknown_runbooks(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    shutil.copytree(DEFAULT_RUNBOOKS_DIR, folder)
    (folder / "broken.yaml").write_text(
        "name: broken\ntitle: broken\nowner: me\nsteps:\n"
        "  - id: go\n    action: registry.nope\n    with: {}\n"
    )
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(
        f"runbooks_dir: {folder}\n"
        "alerts:\n  routes:\n    - name: r\n      runbooks: [rollback-model, broken]\n"
        "      auto_run: [{runbook: missing}]\n"
    )
    found = lines(preflight.check(load_settings(cfg)))
    assert len(found) == 3, found
    assert found[0].startswith(
        f"{folder / 'broken.yaml'}: step go, field action: unknown action 'registry.nope'"
    )
    assert found[1] == (
        f"{cfg}: alerts.routes[0].runbooks: no valid runbook named 'broken' in {folder}; use one of: "
        "disable-naive-fallback, enable-naive-fallback, pause-retraining, resume-retraining, rollback-model"
    )
    assert found[2].startswith(
        f"{cfg}: alerts.routes[0].auto_run[0].runbook: no valid runbook named 'missing'"
    )


def test_half_configured_slack_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "abc")
    found = lines(preflight.check(load_settings()))
    assert found == [
        "environment variable SLACK_SIGNING_SECRET: slack.signing_secret: SLACK_SIGNING_SECRET is set but "
        "SLACK_BOT_TOKEN is not, so Slack cannot be used; set SLACK_BOT_TOKEN (README: Connect Slack), or "
        "unset SLACK_SIGNING_SECRET to run on the console chat adapter"
    ]
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    assert preflight.check(load_settings()).problems == []
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    report = preflight.check(load_settings())
    assert report.problems == [] and "takes no commands or buttons" in report.warnings[0].what


def test_config_check_prints_the_same_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in EXAMPLE_SECRETS:
        monkeypatch.delenv(name, raising=False)
    result = runner.invoke(app, ["--config", str(EXAMPLE), "config", "check"])
    assert result.exit_code == 2
    out = result.output.splitlines()
    assert out[0] == "error: the configuration has 5 problem(s):"
    expected = [f"  {line}" for line in lines(preflight.check(load_settings(EXAMPLE)))]
    assert out[1:] == expected
    assert "Traceback" not in result.output

    monkeypatch.setenv("INCIDENT_BOT_DATABASE_URL", f"sqlite:///{tmp_path / 'bot.db'}")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert f"database: SQLite {tmp_path / 'bot.db'}" in result.output
    assert "configuration OK" in result.output
    assert not (tmp_path / "bot.db").exists()


def test_config_check_connect_reaches_database_and_integrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("INCIDENT_BOT_DATABASE_URL", f"sqlite:///{tmp_path / 'bot.db'}")
    port = free_port()  # nothing listens there
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(
        f"integrations:\n  metrics:\n    prom: {{kind: prometheus, url: 'http://127.0.0.1:{port}'}}\n"
    )
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["--config", str(cfg), "config", "check", "--connect"])
    assert result.exit_code == 1, result.output
    assert "database: reachable, schema up to date" in result.output
    assert "prom" in result.output and "see the problems above" in result.output
