"""FastAPI dependencies: the runtime, and bearer-token authentication with scopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.auth.actor import Actor
from bot.auth.service import Scope, authenticate, touch_token
from bot.db import Database
from bot.errors import AuthenticationError
from bot.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="API token from `incident-bot token create`")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_db(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Database:
    return runtime.db


def require(scope: Scope) -> Callable[..., Awaitable[Actor]]:
    """Dependency factory: the caller's Actor if its token grants ``scope``; deny by default."""

    async def dependency(
        db: Annotated[Database, Depends(get_db)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Actor:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise AuthenticationError("missing API token", hint="send 'Authorization: Bearer <token>'")
        async with db.session() as session:
            actor, due = await authenticate(session, credentials.credentials, scope)
        if due:
            async with db.transaction() as session:
                await touch_token(session, credentials.credentials)
        return actor

    return dependency


Reader = Annotated[Actor, Depends(require(Scope.READ))]
Writer = Annotated[Actor, Depends(require(Scope.WRITE))]
Admin = Annotated[Actor, Depends(require(Scope.ADMIN))]
DB = Annotated[Database, Depends(get_db)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
