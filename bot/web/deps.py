"""FastAPI dependencies: the runtime, and bearer-token authentication with scopes.

A valid token becomes its principal (the person who owns it, or the token itself); a missing,
unknown or too weak token is refused (401/403) and audited, at a bounded rate per client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.auth.actor import Actor, Interface
from bot.auth.service import Scope, authenticate, touch_token
from bot.db import Database
from bot.errors import AuthenticationError, PermissionDeniedError
from bot.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="API token from `incident-bot token create`")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_db(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Database:
    return runtime.db


def client_of(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def require(scope: Scope) -> Callable[..., Awaitable[Actor]]:
    """Dependency factory: the caller's principal if its token grants ``scope``; deny by default."""

    async def dependency(
        request: Request,
        runtime: Annotated[Runtime, Depends(get_runtime)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Actor:
        db = runtime.db
        try:
            if credentials is None or credentials.scheme.lower() != "bearer":
                raise AuthenticationError("missing API token", hint="send 'Authorization: Bearer <token>'")
            async with db.session() as session:
                name, due = await authenticate(session, credentials.credentials, scope)
        except (AuthenticationError, PermissionDeniedError) as exc:
            await runtime.auth_failures.record(
                Interface.API,
                client_of(request),
                target_type="endpoint",
                target_id=f"{request.method} {request.url.path}",
                reason=exc.message,
                status=exc.http_status,
            )
            raise
        if due:
            async with db.transaction() as session:
                await touch_token(session, credentials.credentials)
        return runtime.authz.directory.api_token(name)

    return dependency


Reader = Annotated[Actor, Depends(require(Scope.READ))]
Writer = Annotated[Actor, Depends(require(Scope.WRITE))]
Admin = Annotated[Actor, Depends(require(Scope.ADMIN))]
DB = Annotated[Database, Depends(get_db)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
