"""Local test servers: an ASGI app served by uvicorn on 127.0.0.1 in a daemon thread, so that
the production clients under test reach it over real HTTP (or WebSocket) on loopback."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


class ThreadedUvicorn:
    """``start()`` returns once the server accepts connections; ``stop()`` waits for it."""

    def __init__(self, app: Any, port: int, *, name: str, **options: Any) -> None:
        self.name = name
        self.port = port
        self.config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            **{"ws": "none", **options},
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        server = uvicorn.Server(self.config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"{self.name} did not start on port {self.port}")
            time.sleep(0.02)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None
