"""Load client of the storm benchmark, run in its own process (so it never shares the
server's interpreter): asyncio keep-alive HTTP/1.1 connections, one request in flight each,
pre-encoded requests, closed loop (as fast as the server answers) or open loop (a fixed rate).

    python bench/load_client.py PORT FILE PER_REQUEST CONCURRENCY RATE

FILE holds one hex-encoded body per line; RATE 0 means closed loop. Prints a JSON LoadResult.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

TOKEN = "bench-token-5f1c2a"  # noqa: S105  (the throwaway bot's own webhook token)


def http_request(port: int, body: bytes) -> bytes:
    head = (
        f"POST /webhooks/alertmanager HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


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
    """``load_client.py PORT FILE PER_REQUEST CONCURRENCY RATE``: JSON result on stdout."""
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


if __name__ == "__main__":
    client_main(sys.argv[1:])
