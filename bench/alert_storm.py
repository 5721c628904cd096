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
import asyncio
import contextlib
import json
import os
import platform
import socket
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

from integrations.sources.fingerprint import labelset_fingerprint  # noqa: E402

TOKEN = "bench-token-5f1c2a"  # noqa: S105  (the throwaway bot's own webhook token)
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


def http_request(port: int, body: bytes) -> bytes:
    head = (
        f"POST /webhooks/alertmanager HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# ---------------------------------------------------------------- load client (own process)


class _Connection(asyncio.Protocol):
    """One keep-alive connection with one request in flight."""

    def __init__(self) -> None:
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        length = (
            int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None])
            if at >= 0
            else 0
        )
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        del self.buffer[: end + 4 + length]
        waiter, self.waiter = self.waiter, None
        waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    async def send(self, request: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


@dataclass
class LoadResult:
    requests: int
    ok: int
    statuses: dict[str, int]
    acknowledged_alerts: int
    seconds: float
    req_per_s: float
    alerts_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float


async def drive(
    port: int, bodies: list[bytes], per_request: int, concurrency: int, rate: float | None
) -> LoadResult:
    """Send every body; closed loop (as fast as possible) or open loop at ``rate`` requests/s."""
    loop = asyncio.get_running_loop()
    requests = [http_request(port, b) for b in bodies]
    connections = [
        (await loop.create_connection(_Connection, "127.0.0.1", port))[1] for _ in range(concurrency)
    ]
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for c in connections:
        idle.put_nowait(c)

    async def one(request: bytes) -> None:
        connection = await idle.get()
        started = time.perf_counter()
        try:
            status = await connection.send(request)
        except ConnectionError:
            status = 0
        latencies.append(time.perf_counter() - started)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        idle.put_nowait(connection)

    began = time.perf_counter()
    if rate is None:
        queue = iter(requests)

        async def worker() -> None:
            for request in queue:
                await one(request)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    else:
        tasks = []
        for i, request in enumerate(requests):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(request)))
        await asyncio.gather(*tasks)
    seconds = time.perf_counter() - began
    for c in connections:
        assert c.transport is not None
        c.transport.close()
    ok = sum(n for s, n in statuses.items() if s.startswith("2"))
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return LoadResult(
        requests=len(requests),
        ok=ok,
        statuses=statuses,
        acknowledged_alerts=ok * per_request,
        seconds=round(seconds, 3),
        req_per_s=round(len(requests) / seconds, 1),
        alerts_per_s=round(ok * per_request / seconds, 1),
        p50_ms=round(pct(0.50), 2),
        p99_ms=round(pct(0.99), 2),
        max_ms=round(ordered[-1] * 1000, 2),
    )


def client_main(argv: list[str]) -> None:
    """``alert_storm.py _client PORT FILE PER_REQUEST CONCURRENCY RATE``: JSON result on stdout."""
    port, path, per_request, concurrency, rate = argv
    bodies = [bytes.fromhex(line) for line in Path(path).read_text().split()]
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    result = asyncio.run(drive(int(port), bodies, int(per_request), int(concurrency), float(rate) or None))
    print(json.dumps(asdict(result)))


def run_client(
    port: int, bodies: list[bytes], per_request: int, concurrency: int, rate: float | None
) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".hex", delete=False) as f:
        f.write("\n".join(b.hex() for b in bodies))
    try:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "_client",
                str(port),
                f.name,
                str(per_request),
                str(concurrency),
                str(rate or 0),
            ],
            capture_output=True,
            text=True,
            check=True,
            stdin=subprocess.DEVNULL,
        )
    finally:
        os.unlink(f.name)
    return LoadResult(**json.loads(out.stdout))


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
    paced_rate = args.paced_rate / args.per_request  # requests/s
    print(f"machine: {machine()}")
    print(
        f"storm: {args.alerts} alerts in {args.groups} groups, {args.per_request} per request "
        f"({len(storm)} requests), concurrency {args.concurrency}"
    )
    results: dict[str, dict[str, Any]] = {}
    work = Path(tempfile.mkdtemp(prefix="alert-storm-"))

    for name, app, env in (
        ("raw-asgi", "alert_storm:raw_app", {}),
        ("bare-fastapi", "alert_storm:bare_app", {"ALERT_STORM_BARE": "1"}),
    ):
        port = free_port()
        with server(uvicorn_cmd(app, port), f"http://127.0.0.1:{port}/", env, work / f"{name}.log"):
            run_client(port, storm[:500], args.per_request, args.concurrency, None)  # warm-up
            load = run_client(port, storm, args.per_request, args.concurrency, None)
        results[name] = {"storm": asdict(load)}
        print(
            f"{name:15} {load.req_per_s:>8} req/s {load.alerts_per_s:>8} alerts/s  "
            f"p50 {load.p50_ms} ms  p99 {load.p99_ms} ms  {load.statuses}"
        )

    backends = [("bot-sqlite", None)] + ([("bot-postgresql", args.postgres)] if args.postgres else [])
    for name, pg_url in backends:
        with contextlib.ExitStack() as stack:
            db_url = (
                stack.enter_context(postgres_schema(pg_url)) if pg_url else f"sqlite:///{work / 'bot.db'}"
            )
            port = free_port()
            bot = stack.enter_context(bot_server(db_url, work, port, processor=not args.intake_only))
            # Warm-up like the references, without storing anything: bodies of the wrong shape
            # go through auth, JSON and the parser and are refused (422).
            run_client(port, [b'{"version": "4"}'] * 500, args.per_request, args.concurrency, None)
            load = run_client(port, storm, args.per_request, args.concurrency, None)
            if args.intake_only:  # nothing is processed: count what the inbox holds
                drain_s, incidents = 0.0, 0
                stored = bot.api("/alerts/inbox")["pending"] * args.per_request
                inbox = bot.api("/alerts/inbox")
                paced_load = run_client(port, paced, args.per_request, 8, paced_rate)
                stored_after = bot.api("/alerts/inbox")["pending"] * args.per_request
            else:
                drain_s = bot.drained()
                stored = bot.api("/alerts", limit=1)["total"]
                incidents = bot.api("/incidents", limit=1)["total"]
                inbox = bot.api("/alerts/inbox")
                paced_load = run_client(port, paced, args.per_request, 8, paced_rate)
                bot.drained()
                stored_after = bot.api("/alerts", limit=1)["total"]
        results[name] = {
            "storm": asdict(load),
            "drain_after_last_ack_s": round(drain_s, 2),
            "alerts_stored": stored,
            "incidents": incidents,
            "failed_inbox_rows": inbox["failed"],
            "paced": asdict(paced_load),
            "alerts_stored_after_paced": stored_after,
        }
        acknowledged_all = load.acknowledged_alerts + paced_load.acknowledged_alerts
        print(
            f"{name:15} {load.req_per_s:>8} req/s {load.alerts_per_s:>8} alerts/s  p50 {load.p50_ms} ms  "
            f"p99 {load.p99_ms} ms  {load.statuses}"
        )
        print(
            f"{'':15} acknowledged {load.acknowledged_alerts}, stored {stored}, "
            f"incidents {incidents} (expected {expected_incidents(args.groups)}), processing done "
            f"{drain_s:.1f} s after the last 2xx, failed rows {inbox['failed']}"
        )
        print(
            f"{'':15} paced {args.paced_rate:g} alerts/s for {args.paced_seconds:g} s: "
            f"p50 {paced_load.p50_ms} ms, p99 {paced_load.p99_ms} ms, max {paced_load.max_ms} ms, "
            f"{paced_load.statuses}; stored {stored_after} of {acknowledged_all} acknowledged"
        )
    print()
    print(markdown(results, args))
    print("\n" + json.dumps({"machine": machine(), "args": vars(args), "results": results}))


def markdown(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    """The run as the table of docs/benchmarks.md."""
    bare = results["bare-fastapi"]["storm"]["req_per_s"]
    raw = results["raw-asgi"]["storm"]["req_per_s"]
    lines = [
        "| target | req/s | alerts/s | p50 ms | p99 ms | vs raw ASGI | vs bare FastAPI "
        "| stored / acknowledged | incidents | processed after last 2xx | paced p50 / p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        storm = result["storm"]
        row = [
            name,
            f"{storm['req_per_s']:.0f}",
            f"{storm['alerts_per_s']:.0f}",
            f"{storm['p50_ms']:.1f}",
            f"{storm['p99_ms']:.1f}",
            f"{storm['req_per_s'] / raw:.2f}",
            f"{storm['req_per_s'] / bare:.2f}",
        ]
        if "paced" in result:
            paced = result["paced"]
            row += [
                f"{result['alerts_stored']} / {storm['acknowledged_alerts']}",
                "—"
                if args.intake_only
                else f"{result['incidents']} (expected {expected_incidents(args.groups)})",
                "—" if args.intake_only else f"{result['drain_after_last_ack_s']:.1f} s",
                f"{paced['p50_ms']:.1f} / {paced['p99_ms']:.1f}",
            ]
        else:
            row += ["—", "—", "—", "—"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_client":
        client_main(sys.argv[2:])
    else:
        main()
