"""Prometheus metrics of alert intake, registered in the runtime's own registry."""

from __future__ import annotations

import weakref

from prometheus_client import CollectorRegistry, Counter, Gauge

_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, AlertMetrics] = weakref.WeakKeyDictionary()


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter(
            "incident_bot_alerts_received_total",
            "Alerts acknowledged to their sender (committed to the inbox), by source.",
            ["source"],
            registry=registry,
        )
        self.refused = Counter(
            "incident_bot_alert_requests_refused_total",
            "Webhook requests refused, by source and reason "
            "(unauthenticated, too_large, invalid_json, invalid_shape, unknown_source, unavailable).",
            ["source", "reason"],
            registry=registry,
        )
        self.stored = Counter(
            "incident_bot_alerts_stored_total",
            "New alerts (fingerprints never seen before) stored by the processor, by source.",
            ["source"],
            registry=registry,
        )
        self.deduplicated = Counter(
            "incident_bot_alerts_deduplicated_total",
            "Alert deliveries that repeated a known alert with the same status, by source.",
            ["source"],
            registry=registry,
        )
        self.inbox_pending = Gauge(
            "incident_bot_alert_inbox_pending",
            "Accepted webhook requests not processed yet.",
            registry=registry,
        )
        self.inbox_lag = Gauge(
            "incident_bot_alert_inbox_lag_seconds",
            "Age of the oldest unprocessed webhook request (0 when the inbox is drained).",
            registry=registry,
        )
        self.inbox_failed = Counter(
            "incident_bot_alert_inbox_failed_total",
            "Inbox rows set aside after failing to process (see `incident-bot alert inbox`).",
            registry=registry,
        )


def alert_metrics(registry: CollectorRegistry) -> AlertMetrics:
    """The alert metrics of ``registry``, created on first use (one app per registry or many)."""
    metrics = _BY_REGISTRY.get(registry)
    if metrics is None:
        metrics = _BY_REGISTRY[registry] = AlertMetrics(registry)
    return metrics
