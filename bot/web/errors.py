"""Map the exception tree to HTTP answers; nothing a client sends may produce a 500.

Bodies: ``{"detail": "<what is wrong>", "code": "<machine code>", "hint": ..., ...context}``;
request validation keeps FastAPI's field list under ``detail`` (422).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.errors import AuthenticationError, IncidentBotError, UnavailableError

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(IncidentBotError)
    async def _bot_error(_request: Request, exc: IncidentBotError) -> JSONResponse:
        headers: dict[str, str] = {}
        if isinstance(exc, AuthenticationError):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, UnavailableError):
            headers["Retry-After"] = "5"
            log.warning("unavailable: %s", exc)
        elif exc.http_status >= 500:
            log.error("%s: %s", type(exc).__name__, exc)
        return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors, "code": "invalid_input"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail, "code": "http_error"},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(
            {"detail": "internal error; the bot's log has the details", "code": "internal_error"},
            status_code=500,
        )
