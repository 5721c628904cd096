"""The configuration of the mission loop's parts: the bot, MLServer, Prometheus, Alertmanager.

Used by ``incident-bot demo`` and by the scenario test (tests/system/test_mission_loop.py), so
the demo runs what the test checks. Everything here writes files or builds dicts; starting the
processes is the caller's business.

Timing is shortened for a loop of a couple of minutes: Prometheus scrapes and evaluates every
second, the shipped alerting rules wait seconds instead of minutes (``for``), Alertmanager
groups for a second, and the rollback's verification reads the 1-minute error ratio (a
shipped recording rule) over a window of ``verify_for_s``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.config import PACKAGE_DIR

MODEL = "fraud-detector"
ALIAS = "champion"
ALERTNAME = "ModelPredictionErrorsHigh"
#: The Alertmanager webhook's basic-auth user; the password comes from this variable.
WEBHOOK_USER = "alertmanager"
WEBHOOK_PASSWORD_ENV = "AM_WEBHOOK_PASSWORD"  # noqa: S105 (the name of a variable)
#: The two people of the loop: alice is on call (operations) and asks for the rollback, bob is
#: the incident commander and approves it (four eyes). Each is a configured person acting
#: through an API token of the same name (``people:``, docs/permissions.md).
REQUESTER = "alice"
APPROVER = "bob"


def examples_dir() -> Path:
    """The shipped examples: inside the installed package, or the repository's folder."""
    installed = PACKAGE_DIR / "defaults" / "examples"
    return installed if installed.is_dir() else PACKAGE_DIR.parent / "examples"


@dataclass(frozen=True)
class Timing:
    """How fast the loop goes (seconds)."""

    scrape_s: float = 1.0
    alert_for_s: float = 3.0
    group_wait_s: float = 1.0
    group_interval_s: float = 1.0
    verify_for_s: float = 20.0
    verify_interval_s: float = 2.0
    serve_within_s: float = 60.0


def rollback_inputs(timing: Timing) -> dict[str, Any]:
    """The inputs alice gives rollback-model: the 1-minute ratio, a short window."""
    return {
        "error_rate_metric": "model:prediction_errors:ratio_rate1m",
        "verify_for_s": timing.verify_for_s,
        "verify_interval_s": timing.verify_interval_s,
        "serve_within_s": timing.serve_within_s,
    }


def write_rules(folder: Path, timing: Timing) -> list[Path]:
    """The shipped rule files into ``folder``: recording rules as they are, alerting rules
    with ``for`` shortened to ``timing.alert_for_s``."""
    folder.mkdir(parents=True, exist_ok=True)
    source = examples_dir() / "prometheus" / "rules"
    recording = folder / "model-recording.rules.yml"
    recording.write_text((source / "model-recording.rules.yml").read_text())
    alerting = yaml.safe_load((source / "model-alerting.rules.yml").read_text())
    for group in alerting["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = f"{timing.alert_for_s:g}s"
    path = folder / "model-alerting.rules.yml"
    path.write_text(yaml.safe_dump(alerting, sort_keys=False))
    return [recording, path]


def prometheus_config(exporter: str, alertmanager: str | None, rules: list[Path], timing: Timing) -> str:
    """``exporter`` and ``alertmanager`` are ``host:port`` targets."""
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": f"{timing.scrape_s:g}s",
            "evaluation_interval": f"{timing.scrape_s:g}s",
        },
        "rule_files": [str(p) for p in rules],
        "scrape_configs": [{"job_name": MODEL, "static_configs": [{"targets": [exporter]}]}],
    }
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return yaml.safe_dump(config, sort_keys=False)


def alertmanager_config(bot_url: str, password_file: Path, timing: Timing) -> str:
    """One route to the bot's ``alertmanager`` webhook source, with basic auth."""
    receiver = {
        "name": "incident-bot",
        "webhook_configs": [
            {
                "url": f"{bot_url}/webhooks/alertmanager",
                "send_resolved": True,
                "http_config": {
                    "basic_auth": {"username": WEBHOOK_USER, "password_file": str(password_file)}
                },
            }
        ],
    }
    route = {
        "receiver": "incident-bot",
        "group_by": ["alertname", "model"],
        "group_wait": f"{timing.group_wait_s:g}s",
        "group_interval": f"{timing.group_interval_s:g}s",
        "repeat_interval": "1h",
    }
    return yaml.safe_dump({"route": route, "receivers": [receiver]}, sort_keys=False)


def write_mlserver_repository(folder: Path, ports: tuple[int, int, int]) -> None:
    """MLServer serving ``models:/fraud-detector@champion`` with its MLflow runtime."""
    http_port, grpc_port, metrics_port = ports
    model = folder / MODEL
    model.mkdir(parents=True, exist_ok=True)
    settings = {
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "load_models_at_startup": True,
        # Inference in the server process: no worker pool to start for a tiny model.
        "parallel_workers": 0,
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": MODEL,
        "implementation": "mlserver_mlflow.MLflowRuntime",
        "parameters": {"uri": f"models:/{MODEL}@{ALIAS}"},
    }
    (model / "model-settings.json").write_text(json.dumps(model_settings))


def bot_config(
    *,
    database_url: str,
    port: int,
    mlflow_url: str,
    mlserver_url: str,
    metrics_url: str,
    runbooks_dir: Path | None = None,
) -> dict[str, Any]:
    """The bot: MLflow, MLServer (serving the model through its alias), the metrics source, the
    Alertmanager webhook with basic auth, and a routing rule that pages with SEV2 and suggests
    rollback-model. Mitigation comes from the rollback's verification, not from the alerts
    resolving (``auto_mitigate: false``)."""
    config: dict[str, Any] = {
        "database_url": database_url,
        "host": "127.0.0.1",
        "port": port,
        "public_url": f"http://127.0.0.1:{port}",
        "log_level": "WARNING",
        "runbooks": {"poll_interval": 0.2},
        "alerts": {
            "sources": {
                "alertmanager": {
                    "auth": {
                        "type": "basic",
                        "username": WEBHOOK_USER,
                        "password": {"env": WEBHOOK_PASSWORD_ENV},
                    }
                }
            },
            "routes": [
                {
                    "name": "fraud-page",
                    "matchers": [f'alertname="{ALERTNAME}"', f'model="{MODEL}"'],
                    "severity": "SEV2",
                    "responders": ["@ml-oncall"],
                    "runbooks": ["rollback-model"],
                }
            ],
            "resolution": {"auto_mitigate": False},
            "processor": {"sweep_interval_s": 1, "linger_s": 0},
        },
        "integrations": {
            "registries": {"mlflow": {"kind": "mlflow", "url": mlflow_url}},
            "serving": {
                "mlserver": {
                    "kind": "mlserver",
                    "url": mlserver_url,
                    "serves": [{"model": MODEL, "alias": ALIAS}],
                }
            },
            "metrics": {"prometheus": {"kind": "prometheus", "url": metrics_url}},
        },
        "slack": {"oncall_group": "@ml-oncall"},
        # Two people, each with the API token of their name, both on call: the page's responders.
        "people": [
            {"id": REQUESTER, "tokens": [REQUESTER]},
            {"id": APPROVER, "tokens": [APPROVER]},
        ],
        "groups": {"@ml-oncall": [REQUESTER, APPROVER]},
    }
    if runbooks_dir is not None:
        config["runbooks_dir"] = str(runbooks_dir)
    return config


def alertmanager_webhook(status: str, started_at: str, ended_at: str | None, ratio: float) -> dict[str, Any]:
    """The notification Alertmanager sends for the page: what the demo posts itself when
    Prometheus and Alertmanager are not installed."""
    labels = {"alertname": ALERTNAME, "model": MODEL, "severity": "critical"}
    group = {"alertname": ALERTNAME, "model": MODEL}
    return {
        "version": "4",
        "groupKey": '{}:{alertname="' + ALERTNAME + '", model="' + MODEL + '"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "incident-bot",
        "groupLabels": group,
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://incident-bot-demo",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {
                    "summary": f"{MODEL}: {ratio:.0%} of predictions are wrong",
                    "runbook": "rollback-model",
                },
                "startsAt": started_at,
                "endsAt": ended_at or "0001-01-01T00:00:00Z",
                "generatorURL": "http://incident-bot-demo/exporter",
                "fingerprint": "f4a1d0e7c3b29e51",
            }
        ],
    }
