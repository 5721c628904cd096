"""A fake Slack Socket Mode endpoint: ``apps.connections.open`` hands out a websocket URL, and
the websocket speaks Socket Mode's envelopes (``hello``, then requests the app must ack with
their ``envelope_id``). Served by uvicorn in a thread; the test pushes envelopes and reads acks.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.fakes.threaded_uvicorn import ThreadedUvicorn
from tests.system.servers import free_port

APP_TOKEN = "xapp-1-AFAKE-1-fake-app-token"


class FakeSocketMode:
    def __init__(self) -> None:
        self.port = free_port()
        self.acks: queue.Queue[dict[str, Any]] = queue.Queue()
        self.connections = 0
        self._socket: WebSocket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = threading.Event()
        self._ids = itertools.count(1)
        self._uvicorn: ThreadedUvicorn | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket=fake"

    async def _endpoint(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self._socket, self._loop = websocket, asyncio.get_running_loop()
        self.connections += 1
        await websocket.send_text(
            json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "AFAKE"}})
        )
        self._connected.set()
        try:
            while True:
                self.acks.put(json.loads(await websocket.receive_text()))
        except WebSocketDisconnect:
            self._socket = None

    def start(self) -> None:
        app = Starlette(routes=[WebSocketRoute("/link/", self._endpoint)])
        self._uvicorn = ThreadedUvicorn(
            app, self.port, name="the fake Socket Mode server", ws="websockets-sansio"
        )
        self._uvicorn.start()

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.stop()

    async def wait_connected(self, within_s: float = 10) -> None:
        if not await asyncio.to_thread(self._connected.wait, within_s):
            raise AssertionError("the bot did not connect over Socket Mode")

    async def send(self, kind: str, payload: dict[str, Any]) -> str:
        """Push a request envelope (``slash_commands``, ``interactive``, ``events_api``)."""
        envelope_id = f"env-{next(self._ids)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": 0,
            "retry_reason": "",
        }
        assert self._socket is not None and self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._socket.send_text(json.dumps(envelope)), self._loop)
        await asyncio.to_thread(future.result, 5)
        return envelope_id

    async def ack(self, envelope_id: str, within_s: float = 5) -> dict[str, Any]:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                message = await asyncio.to_thread(self.acks.get, True, 0.2)
            except queue.Empty:
                continue
            if message.get("envelope_id") == envelope_id:
                return message
        raise AssertionError(f"no ack for {envelope_id} within {within_s}s")
