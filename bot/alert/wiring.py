"""Put alert intake into an app: resolve sources, add the inbox writer and the processor to the
runtime's components, mount the webhook and API routes."""

from __future__ import annotations

from bot.alert import views
from bot.alert.intake import InboxWriter
from bot.alert.metrics import alert_metrics
from bot.alert.processor import AlertProcessor
from bot.alert.sources import resolve_sources
from bot.alert.webhook import WebhookFastPath, WebhookReceiver
from bot.runtime import Runtime
from bot.web.front import BotApp


def install_alerts(app: BotApp, runtime: Runtime) -> None:
    """Raises ConfigError for a source whose mapping or secret cannot be read."""
    settings = runtime.settings.alerts
    base_dir = runtime.settings.config_file.parent if runtime.settings.config_file else None
    sources = resolve_sources(settings, base_dir)
    metrics = alert_metrics(runtime.metrics.registry)
    processor = AlertProcessor(runtime.db, settings, sources, metrics)
    writer = InboxWriter(runtime.db, settings.intake, on_commit=processor.wake)
    processor.intake_busy = writer.busy
    # Started in this order and stopped in reverse: the writer commits what it holds before
    # the processor stops.
    runtime.components.extend([processor, writer] if settings.processor.enabled else [writer])
    receiver = WebhookReceiver(
        sources,
        writer,
        metrics,
        max_body_bytes=settings.intake.max_body_bytes,
        retry_after_s=settings.intake.retry_after_s,
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
