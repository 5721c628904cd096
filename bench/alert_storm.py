"""Alert storm benchmark: how fast the bot acknowledges alerts, every one durable before its 2xx.

    python bench/alert_storm.py [--alerts 10000] [--groups 50] [--per-request 2]
                                [--concurrency 64] [--paced-rate 200] [--paced-seconds 15]
                                [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]

In one run, each target is a separate uvicorn process (one worker, loopback) and the load
comes from a separate client process (asyncio, keep-alive HTTP/1.1, pre-encoded requests):

- ``raw-asgi``: an ASGI app that reads the body and answers 200 (the server stack's limit);
- ``bare-fastapi``: a FastAPI endpoint that reads the body and answers 200 (our framework's
  ceiling);
- ``bot-sqlite`` / ``bot-postgresql``: ``incident-bot serve`` with an authenticated
  Alertmanager source: auth, parse, commit to the inbox (group commit), 202.

The storm is ``--alerts`` alerts across ``--groups`` Alertmanager groups, ``--per-request``
distinct alerts per webhook (Alertmanager v4 bodies), posted as fast as the server takes them
with ``--concurrency`` connections. For the bots it then waits until the processor has drained
the inbox and checks, over the REST API: alerts stored == alerts acknowledged, and incidents
opened == the number the storm rule gives (``--groups`` when it is at most the storm limit;
otherwise the limit plus one umbrella). Finally a paced run sends ``--paced-rate`` alerts/s
for ``--paced-seconds`` and reports its latency (target: p99 < 50 ms at 200 alerts/s).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from load_client import TOKEN, run_client  # noqa: E402

from integrations.sources.fingerprint import labelset_fingerprint  # noqa: E402

STORM_LIMIT = 20  # alerts.storm.new_groups_per_minute (the shipped default)


# ---------------------------------------------------------------- reference apps (uvicorn)


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The least an ASGI app can do: read the body, answer 200."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"{}"})


def _bare_fastapi() -> Any:
    app = FastAPI()

    @app.post("/webhooks/{source}")
    async def receive(source: str, request: Request) -> Response:
        await request.body()
        return Response(b"{}", media_type="application/json")

    return app


bare_app = _bare_fastapi() if os.environ.get("ALERT_STORM_BARE") == "1" else None


# ---------------------------------------------------------------- payloads


def storm_bodies(alerts: int, groups: int, per_request: int, *, offset: int = 0) -> list[bytes]:
    """Alertmanager v4 bodies: ``alerts`` distinct alerts in ``groups`` groups, round-robin."""
    bodies = []
    for n in range(alerts // per_request):
        group = n % groups
        labels = {"alertname": "ModelErrorRateHigh", "model": f"model-{group:02d}"}
        batch = []
        for k in range(per_request):
            instance = f"scoring-{offset + n * per_request + k}:8080"
            alert_labels = {**labels, "severity": "critical", "instance": instance, "job": "scoring"}
            batch.append(
                {
                    "status": "firing",
                    "labels": alert_labels,
                    "fingerprint": labelset_fingerprint(alert_labels),  # Alertmanager always sends it
                    "annotations": {
                        "summary": f"model-{group:02d} error rate above 5%",
                        "description": instance,
                    },
                    "startsAt": "2026-11-20T03:12:05.123Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus.example:9090/graph?g0.expr=model_error_rate",
                }
            )
        body = {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="ModelErrorRateHigh", model="model-{group:02d}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "incident-bot",
            "groupLabels": labels,
            "commonLabels": labels,
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": batch,
        }
        bodies.append(json.dumps(body).encode())
    return bodies


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout_s}s")


@contextlib.contextmanager
def server(cmd: list[str], ready: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_ready(ready, proc)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def uvicorn_cmd(app: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(HERE),
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


@dataclass
class Bot:
    url: str
    admin: str

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(
            f"{self.url}/api/v1{path}", params=params, headers={"Authorization": f"Bearer {self.admin}"}
        )
        response.raise_for_status()
        return response.json()

    def drained(self, timeout_s: float = 600) -> float:
        """Seconds until the processor has no pending inbox row."""
        began = time.monotonic()
        while self.api("/alerts/inbox")["pending"]:
            if time.monotonic() - began > timeout_s:
                raise TimeoutError("the inbox was not drained")
            time.sleep(0.1)
        return time.monotonic() - began


@contextlib.contextmanager
def bot_server(database_url: str, workdir: Path, port: int, processor: bool = True) -> Iterator[Bot]:
    config = workdir / "bot.yaml"
    config.write_text(
        json.dumps(
            {
                "database_url": database_url,
                "log_level": "WARNING",
                "alerts": {
                    "sources": {
                        "alertmanager": {"auth": {"type": "bearer", "token": {"env": "BENCH_AM_TOKEN"}}}
                    },
                    "processor": {"enabled": processor},
                },
            }
        )
    )
    env = {"PYTHONPATH": os.environ.get("BENCH_EXTRA_PATH", "") + str(REPO), "BENCH_AM_TOKEN": TOKEN}
    base = [sys.executable, "-m", "bot", "--config", str(config)]
    subprocess.run([*base, "db", "upgrade"], env={**os.environ, **env}, check=True, capture_output=True)
    created = subprocess.run(
        [*base, "token", "create", "bench", "--scope", "admin"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    admin = created.stdout.strip().splitlines()[-1]
    with server(
        [*base, "serve", "--port", str(port), "--no-migrate"],
        f"http://127.0.0.1:{port}/readyz",
        env,
        workdir / "bot.log",
    ):
        yield Bot(f"http://127.0.0.1:{port}", admin)


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


# ---------------------------------------------------------------- the run


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {mem / 1024 / 1024:.0f} GiB RAM, Python {platform.python_version()}"
    )


def expected_incidents(groups: int) -> int:
    return groups if groups <= STORM_LIMIT else STORM_LIMIT + 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--per-request", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="storms per target (medians are reported)")
    parser.add_argument("--paced-rate", type=float, default=200.0, help="alerts per second")
    parser.add_argument("--paced-seconds", type=float, default=15.0)
    parser.add_argument(
        "--postgres", default=os.environ.get("TEST_DATABASE_URL"), help="PostgreSQL URL (skipped if unset)"
    )
    parser.add_argument(
        "--intake-only",
        action="store_true",
        help="bots with alerts.processor.enabled=false: the webhook path alone (no processing, no incidents)",
    )
    args = parser.parse_args()

    storm = storm_bodies(args.alerts, args.groups, args.per_request)
    paced_alerts = int(args.paced_rate * args.paced_seconds)
    paced = storm_bodies(paced_alerts, args.groups, args.per_request, offset=10 * args.alerts)
    print(f"machine: {machine()}")
    print(
        f"storm: {args.alerts} alerts in {args.groups} groups, {args.per_request} per request "
        f"({len(storm)} requests), concurrency {args.concurrency}, {args.rounds} rounds"
    )
    work = Path(tempfile.mkdtemp(prefix="alert-storm-"))
    targets = ["raw-asgi", "bare-fastapi", "bot-sqlite"] + (["bot-postgresql"] if args.postgres else [])
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    # Rounds interleave the targets, so that each ratio compares runs minutes apart at most
    # (the machines are shared and their speed drifts).
    for round_no in range(1, args.rounds + 1):
        last = round_no == args.rounds
        for name in targets:
            if name.startswith("bot-"):
                result = bot_round(name, args, storm, paced if last else None, work / f"{name}-{round_no}")
            else:
                result = reference_round(name, args, storm, work)
            rounds[name].append(result)
            print(f"round {round_no} {name:15} {line(result)}")
    summary = {name: summarize(results) for name, results in rounds.items()}
    print()
    print(markdown(summary, args))
    print("\n" + json.dumps({"machine": machine(), "args": vars(args), "rounds": rounds}))


def reference_round(name: str, args: argparse.Namespace, storm: list[bytes], work: Path) -> dict[str, Any]:
    app, env = {
        "raw-asgi": ("alert_storm:raw_app", {}),
        "bare-fastapi": ("alert_storm:bare_app", {"ALERT_STORM_BARE": "1"}),
    }[name]
    port = free_port()
    with server(uvicorn_cmd(app, port), f"http://127.0.0.1:{port}/", env, work / f"{name}.log"):
        run_client(port, storm[:500], args.per_request, args.concurrency, None)  # warm-up
        load = run_client(port, storm, args.per_request, args.concurrency, None)
    return {"storm": asdict(load)}


def bot_round(
    name: str, args: argparse.Namespace, storm: list[bytes], paced: list[bytes] | None, work: Path
) -> dict[str, Any]:
    """One storm against a fresh bot and database; the paced run after it when given."""
    work.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        db_url = (
            stack.enter_context(postgres_schema(args.postgres))
            if name == "bot-postgresql"
            else f"sqlite:///{work / 'bot.db'}"
        )
        port = free_port()
        bot = stack.enter_context(bot_server(db_url, work, port, processor=not args.intake_only))
        # Warm-up like the references, without storing anything: bodies of the wrong shape
        # go through auth, JSON and the parser and are refused (422).
        run_client(port, [b'{"version": "4"}'] * 500, args.per_request, args.concurrency, None)
        load = run_client(port, storm, args.per_request, args.concurrency, None)
        result: dict[str, Any] = {"storm": asdict(load)}
        if args.intake_only:  # nothing is processed: count what the inbox holds
            result.update(drain_after_last_ack_s=None, incidents=None)
            result["alerts_stored"] = bot.api("/alerts/inbox")["pending"] * args.per_request
        else:
            result["drain_after_last_ack_s"] = round(bot.drained(), 2)
            result["alerts_stored"] = bot.api("/alerts", limit=1)["total"]
            result["incidents"] = bot.api("/incidents", limit=1)["total"]
        result["failed_inbox_rows"] = bot.api("/alerts/inbox")["failed"]
        if paced is not None:
            paced_load = run_client(port, paced, args.per_request, 8, args.paced_rate / args.per_request)
            if args.intake_only:
                stored_after = bot.api("/alerts/inbox")["pending"] * args.per_request
            else:
                bot.drained()
                stored_after = bot.api("/alerts", limit=1)["total"]
            result["paced"] = asdict(paced_load)
            result["acknowledged_with_paced"] = load.acknowledged_alerts + paced_load.acknowledged_alerts
            result["alerts_stored_with_paced"] = stored_after
    return result


def line(result: dict[str, Any]) -> str:
    storm = result["storm"]
    out = (
        f"{storm['req_per_s']:>8} req/s {storm['alerts_per_s']:>8} alerts/s  "
        f"p50 {storm['p50_ms']} ms  p99 {storm['p99_ms']} ms  {storm['statuses']}"
    )
    if "alerts_stored" in result:
        out += (
            f"\n{'':24}acknowledged {storm['acknowledged_alerts']}, stored {result['alerts_stored']}, "
            f"incidents {result['incidents']}, processed {result['drain_after_last_ack_s']} s after the "
            f"last 2xx, failed rows {result['failed_inbox_rows']}"
        )
    if "paced" in result:
        paced = result["paced"]
        out += (
            f"\n{'':24}paced: p50 {paced['p50_ms']} ms, p99 {paced['p99_ms']} ms, max {paced['max_ms']} ms, "
            f"{paced['statuses']}; stored {result['alerts_stored_with_paced']} of "
            f"{result['acknowledged_with_paced']} acknowledged"
        )
    return out


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds; accounting summed (every round must hold what it acknowledged)."""
    storms = [r["storm"] for r in results]
    keys = ("req_per_s", "alerts_per_s", "p50_ms", "p99_ms")
    summary: dict[str, Any] = {key: statistics.median(s[key] for s in storms) for key in keys}
    summary["req_per_s_range"] = (min(s["req_per_s"] for s in storms), max(s["req_per_s"] for s in storms))
    if "alerts_stored" in results[0]:
        summary["acknowledged"] = sum(s["acknowledged_alerts"] for s in storms)
        summary["stored"] = sum(r["alerts_stored"] for r in results)
        summary["incidents"] = [r["incidents"] for r in results]
        summary["drain_s"] = [r["drain_after_last_ack_s"] for r in results]
        paced = next(r for r in results if "paced" in r)
        summary["paced"] = paced["paced"]
        summary["paced_lost"] = paced["acknowledged_with_paced"] - paced["alerts_stored_with_paced"]
    return summary


def markdown(summary: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    """The run as the table of docs/benchmarks.md (medians of the rounds)."""
    bare = summary["bare-fastapi"]["req_per_s"]
    raw = summary["raw-asgi"]["req_per_s"]
    lines = [
        "| target | req/s (median, range) | alerts/s | p50 ms | p99 ms | vs raw ASGI | vs bare FastAPI "
        "| stored / acknowledged | incidents per round | processed after last 2xx | paced p50 / p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        low, high = s["req_per_s_range"]
        row = [
            name,
            f"{s['req_per_s']:.0f} ({low:.0f} to {high:.0f})",
            f"{s['alerts_per_s']:.0f}",
            f"{s['p50_ms']:.1f}",
            f"{s['p99_ms']:.1f}",
            f"{s['req_per_s'] / raw:.2f}",
            f"{s['req_per_s'] / bare:.2f}",
        ]
        if "paced" in s:
            expected = expected_incidents(args.groups)
            row += [
                f"{s['stored']} / {s['acknowledged']}",
                "—" if args.intake_only else f"{s['incidents']} (expected {expected})",
                "—" if args.intake_only else " / ".join(f"{d:.1f}" for d in s["drain_s"]) + " s",
                f"{s['paced']['p50_ms']:.1f} / {s['paced']['p99_ms']:.1f}",
            ]
        else:
            row += ["—", "—", "—", "—"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
