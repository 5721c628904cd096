"""create_app(settings): the FastAPI application with its lifespan.

The lifespan starts the background components registered on the runtime (outbox, scheduler,
alert processing...) and stops them in reverse order.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bot import __version__
from bot.alert.wiring import install_alerts
from bot.audit import views as audit_views
from bot.chat import views as chat_views
from bot.config import Settings
from bot.incident import views as incident_views
from bot.postmortem import views as postmortem_views
from bot.runbook import views as runbook_views
from bot.runbook.install import install as install_runbooks
from bot.runtime import Runtime
from bot.slack.app import install_slack
from bot.web import health
from bot.web.errors import install_error_handlers
from bot.web.front import BotApp
from bot.web.pages import install_pages

log = logging.getLogger(__name__)


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    runtime = runtime or Runtime.build(settings)
    install_runbooks(runtime)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        started = []
        try:
            for component in runtime.components:
                await component.start()
                started.append(component)
            yield
        finally:
            for component in reversed(started):
                try:
                    await component.stop()
                except Exception:
                    log.exception("stopping %s failed", type(component).__name__)
            await runtime.integrations.aclose()
            await runtime.db.dispose()

    app = BotApp(
        title="incident-bot",
        version=__version__,
        description="Incident response and runbook automation for ML systems.",
        lifespan=lifespan,
        # Served by bot.web.pages from local assets instead of a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    health.install_request_metrics(app)
    app.include_router(health.router)
    install_pages(app)
    app.include_router(incident_views.router)
    app.include_router(audit_views.router)
    app.include_router(runbook_views.router)
    app.include_router(chat_views.router)
    app.include_router(postmortem_views.router)
    install_alerts(app, runtime)
    install_slack(app, runtime)
    return app
