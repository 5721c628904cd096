"""``BotApp``: FastAPI with room for hot-path ASGI layers in front of the framework's own stack.

FastAPI's stack (server errors, telemetry, body limit, exception handling, routing across every
route) costs more per request than everything the raw server does. A front layer (the webhook
fast path) sees each request first and answers the few paths it owns itself; every other
request goes through FastAPI unchanged. Tests that call the app in process go through the same
layers as uvicorn does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp

FrontLayer = Callable[[ASGIApp], ASGIApp]


class BotApp(FastAPI):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: Wrappers applied outermost, in order (the last added sees requests first).
        self.front_layers: list[FrontLayer] = []

    def add_front_layer(self, layer: FrontLayer) -> None:
        if self.middleware_stack is not None:
            raise RuntimeError("front layers must be added before the app serves requests")
        self.front_layers.append(layer)

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        for layer in self.front_layers:
            app = layer(app)
        return app
