"""Start the demo's systems in order: MLflow (with the example model's two versions), MLServer,
the exporter, the bot, and Prometheus with Alertmanager when they are installed.

MLflow and MLServer come from the demo extra (``pip install 'incident-bot[demo]'``), installed
beside the bot: their commands are next to this Python's. Prometheus and Alertmanager come from
the system (Debian's ``prometheus`` and ``prometheus-alertmanager``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

import bot.models_index  # noqa: F401 (every table, for the ORM's foreign keys)
from bot import migrate
from bot.auth.actor import SYSTEM
from bot.auth.service import Scope, create_token
from bot.db import Database
from bot.demo import configs
from bot.demo.processes import Processes
from bot.errors import ConfigError, UnavailableError

Say = Callable[[str], None]


@dataclass(frozen=True)
class Tools:
    mlflow: Path
    mlserver: Path
    prometheus: str | None
    alertmanager: str | None
    #: Why Prometheus and Alertmanager are not used, when they are not.
    without: str | None = None

    @property
    def monitoring(self) -> bool:
        return self.prometheus is not None and self.alertmanager is not None


@dataclass(frozen=True)
class Stack:
    mlflow: str
    mlserver: str
    exporter: str
    bot: str
    prometheus: str | None
    alertmanager: str | None
    good: str
    bad: str
    #: The API tokens of alice and bob (kept in files of the work folder, never printed).
    people: dict[str, str]
    webhook_password: str
    #: Why Prometheus and Alertmanager are not used, when they are not.
    without_monitoring: str | None = None


def find_tools(use_monitoring: bool) -> Tools:
    bin_dir = Path(sys.executable).parent
    mlflow, mlserver = bin_dir / "mlflow", bin_dir / "mlserver"
    if not (mlflow.exists() and mlserver.exists()):
        raise ConfigError(
            "MLflow and MLServer are not installed beside the bot",
            hint="pip install 'incident-bot[demo]' (from a checkout: pip install '.[demo]')",
        )
    if not use_monitoring:
        return Tools(mlflow, mlserver, None, None, "left out (--without-prometheus)")
    prometheus = shutil.which("prometheus")
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    missing = None if prometheus and alertmanager else "not installed"
    return Tools(mlflow, mlserver, prometheus, alertmanager, missing)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start(processes: Processes, workdir: Path, tools: Tools, timing: configs.Timing, say: Say) -> Stack:
    mlflow = await start_mlflow(processes, workdir, tools)
    say(f"MLflow is up at {mlflow}")
    versions = await register_models(workdir, mlflow)
    say(
        f"{configs.MODEL}: v{versions['good']} (good) and v{versions['bad']} (bad) registered; "
        f"{configs.ALIAS} → v{versions['bad']}: the bad release"
    )
    mlserver = await start_mlserver(processes, workdir, tools, mlflow)
    say(f"MLServer serves models:/{configs.MODEL}@{configs.ALIAS} at {mlserver} (that is v{versions['bad']})")
    exporter_port = free_port()
    exporter = await _exporter(processes, mlserver, exporter_port, query_api=not tools.monitoring)
    say(f"traffic with ground truth flows to the model; its metrics at {exporter}/metrics")

    bot_port, prom_port, am_port = free_port(), free_port(), free_port()
    prometheus = f"http://127.0.0.1:{prom_port}" if tools.monitoring else None
    password = secrets.token_urlsafe(16)
    people = await bot_database(workdir)
    bot = await _bot(processes, workdir, bot_port, mlflow, mlserver, prometheus or exporter, password)
    say(f"incident-bot is up at {bot} (API docs at {bot}/docs)")
    alertmanager = None
    if tools.monitoring:
        assert tools.prometheus is not None and tools.alertmanager is not None
        alertmanager = await _alertmanager(
            processes, workdir, tools.alertmanager, am_port, bot, password, timing
        )
        await _prometheus(processes, workdir, tools.prometheus, prom_port, exporter_port, am_port, timing)
        say(
            f"Prometheus ({prometheus}) evaluates the shipped rules; "
            f"Alertmanager ({alertmanager}) pages the bot"
        )
    return Stack(
        mlflow,
        mlserver,
        exporter,
        bot,
        prometheus,
        alertmanager,
        versions["good"],
        versions["bad"],
        people,
        password,
        tools.without,
    )


async def start_mlflow(processes: Processes, workdir: Path, tools: Tools) -> str:
    port = free_port()
    started = processes.start(
        "mlflow",
        [
            str(tools.mlflow),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{workdir / 'mlflow.db'}",
            "--artifacts-destination",
            str(workdir / "mlflow-artifacts"),
        ],
        env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    await processes.ready(started, f"{url}/health", timeout_s=180)
    return url


async def register_models(workdir: Path, mlflow: str) -> dict[str, str]:
    script = configs.examples_dir() / "fraud_model" / "log_models.py"
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(script), mlflow, configs.MODEL],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
    )
    if done.returncode != 0:
        raise UnavailableError(f"registering the example model failed:\n{done.stderr[-2000:]}")
    versions: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return versions


async def start_mlserver(processes: Processes, workdir: Path, tools: Tools, mlflow: str) -> str:
    repository = workdir / "mlserver-models"
    ports = (free_port(), free_port(), free_port())
    configs.write_mlserver_repository(repository, ports)
    started = processes.start(
        "mlserver",
        [str(tools.mlserver), "start", str(repository)],
        env={"MLFLOW_TRACKING_URI": mlflow},
        cwd=repository,
    )
    url = f"http://127.0.0.1:{ports[0]}"
    await processes.ready(started, f"{url}/v2/models/{configs.MODEL}/ready", timeout_s=180)
    return url


async def _exporter(processes: Processes, mlserver: str, port: int, *, query_api: bool) -> str:
    script = configs.examples_dir() / "fraud_model" / "exporter.py"
    cmd = [sys.executable, str(script), f"--serving={mlserver}", f"--port={port}", "--rate=5"]
    started = processes.start("exporter", [*cmd, *(["--query-api"] if query_api else [])])
    url = f"http://127.0.0.1:{port}"
    await processes.ready(started, f"{url}/metrics")
    return url


async def bot_database(workdir: Path) -> dict[str, str]:
    """The bot's database, migrated, with an API token for alice and one for bob."""
    url = f"sqlite:///{workdir / 'bot.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    people = {}
    try:
        async with db.transaction() as session:
            for name in (configs.REQUESTER, configs.APPROVER):
                _row, secret = await create_token(session, name, [Scope.WRITE], SYSTEM)
                people[name] = secret
                token_file = workdir / f"{name}.token"
                token_file.write_text(secret)
                token_file.chmod(0o600)
    finally:
        await db.dispose()
    return people


async def _bot(
    processes: Processes, workdir: Path, port: int, mlflow: str, mlserver: str, metrics: str, password: str
) -> str:
    config = configs.bot_config(
        database_url=f"sqlite:///{workdir / 'bot.db'}",
        port=port,
        mlflow_url=mlflow,
        mlserver_url=mlserver,
        metrics_url=metrics,
    )
    path = workdir / "bot.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    started = processes.start(
        "incident-bot",
        [sys.executable, "-m", "bot", "--config", str(path), "serve", "--no-migrate"],
        env={configs.WEBHOOK_PASSWORD_ENV: password},
    )
    url = f"http://127.0.0.1:{port}"
    await processes.ready(started, f"{url}/readyz", timeout_s=60)
    return url


async def _alertmanager(
    processes: Processes,
    workdir: Path,
    binary: str,
    port: int,
    bot: str,
    password: str,
    timing: configs.Timing,
) -> str:
    secret = workdir / "alertmanager-password"
    secret.write_text(password)
    secret.chmod(0o600)
    (workdir / "alertmanager.yml").write_text(configs.alertmanager_config(bot, secret, timing))
    started = processes.start(
        "alertmanager",
        [
            binary,
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
    )
    url = f"http://127.0.0.1:{port}"
    await processes.ready(started, f"{url}/-/ready", timeout_s=60)
    return url


async def _prometheus(
    processes: Processes,
    workdir: Path,
    binary: str,
    port: int,
    exporter_port: int,
    am_port: int,
    timing: configs.Timing,
) -> None:
    rules = configs.write_rules(workdir / "prometheus-rules", timing)
    config = configs.prometheus_config(f"127.0.0.1:{exporter_port}", f"127.0.0.1:{am_port}", rules, timing)
    (workdir / "prometheus.yml").write_text(config)
    started = processes.start(
        "prometheus",
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
    )
    await processes.ready(started, f"http://127.0.0.1:{port}/-/ready", timeout_s=60)
