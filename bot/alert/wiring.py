"""Put alert intake into an app: resolve sources, add the inbox writer and the processor to the
runtime's components, mount the webhook and API routes."""

from __future__ import annotations

import functools

from bot.alert import views
from bot.alert.intake import InboxWriter
from bot.alert.metrics import alert_metrics
from bot.alert.processor import AlertProcessor
from bot.alert.sources import resolve_sources
from bot.alert.spool import INBOX, IntakeSpool, spool_path
from bot.alert.webhook import WebhookFastPath, WebhookReceiver
from bot.runtime import Component, Runtime
from bot.web.front import BotApp


def install_alerts(app: BotApp, runtime: Runtime) -> None:
    """Raises ConfigError for a source whose mapping or secret cannot be read."""
    settings = runtime.settings.alerts
    base_dir = runtime.settings.config_file.parent if runtime.settings.config_file else None
    sources = resolve_sources(settings, base_dir)
    metrics = alert_metrics(runtime.metrics.registry)
    processor = AlertProcessor(runtime.db, settings, sources, metrics)
    path = spool_path(runtime.db.url)
    spool = None
    if path is not None:  # SQLite: webhook commits do not wait for the main file's writer
        spool = IntakeSpool(
            runtime.db,
            path,
            on_move=processor.wake,
            linger_s=settings.processor.linger_s,
            busy_defer_s=settings.processor.busy_defer_s,
        )
        writer = InboxWriter(spool.insert_many, settings.intake, on_commit=spool.wake)
        spool.intake_busy = writer.busy
        intake: list[Component] = [spool, writer]
    else:
        writer = InboxWriter(
            functools.partial(runtime.db.insert_many, INBOX, urgent=True),
            settings.intake,
            on_commit=processor.wake,
        )
        intake = [writer]
    app.state.alert_spool = spool
    processor.intake_busy = writer.busy
    # Started in this order and stopped in reverse: the writer commits what it holds, the
    # spool moves it into the inbox, then the processor stops.
    runtime.components.extend([processor, *intake] if settings.processor.enabled else intake)
    receiver = WebhookReceiver(
        sources,
        writer,
        metrics,
        max_body_bytes=settings.intake.max_body_bytes,
        retry_after_s=settings.intake.retry_after_s,
        failures=runtime.auth_failures,
    )
    app.state.alert_webhooks = receiver
    # In front of FastAPI's own stack: webhooks skip the framework (see WebhookFastPath).
    app.add_front_layer(
        lambda inner: WebhookFastPath(
            inner, receiver, requests=runtime.metrics.requests, latency=runtime.metrics.latency
        )
    )
    app.state.alert_processor = processor
    app.include_router(views.webhooks)
    app.include_router(views.api)
