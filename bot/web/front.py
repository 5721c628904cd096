"""``BotApp``: FastAPI with room for hot-path ASGI layers in front of the framework itself.

FastAPI's own handling of a request (its telemetry check, Starlette's scope set-up, the
middleware stack: server errors, telemetry, body limit, exception handling, routing across
every route) costs more per request than everything the raw server does. A front layer (the
webhook fast path) sees each request first and answers the few paths it owns itself; every
other request, and the lifespan, goes through FastAPI unchanged. Tests that call the app in
process go through the same layers as uvicorn does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

FrontLayer = Callable[[ASGIApp], ASGIApp]


class BotApp(FastAPI):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: Wrappers applied outermost, in order (the last added sees requests first).
        self.front_layers: list[FrontLayer] = []
        self._entry: ASGIApp | None = None

    def add_front_layer(self, layer: FrontLayer) -> None:
        if self._entry is not None:
            raise RuntimeError("front layers must be added before the app serves requests")
        self.front_layers.append(layer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._entry is None:
            entry: ASGIApp = super().__call__
            for layer in self.front_layers:
                entry = layer(entry)
            self._entry = entry
        await self._entry(scope, receive, send)
