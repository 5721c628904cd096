"""Prometheus metrics of chat delivery, registered in the runtime's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ChatMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter(
            "incident_bot_outbox_sent_total",
            "Outbox calls delivered, by Web API method.",
            ["method"],
            registry=registry,
        )
        self.failures = Counter(
            "incident_bot_outbox_failures_total",
            "Failed outbox attempts that will be retried, by method and reason.",
            ["method", "reason"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "incident_bot_outbox_rate_limited_total",
            "429 answers from Slack, by method.",
            ["method"],
            registry=registry,
        )
        self.rejected = Counter(
            "incident_bot_outbox_rejected_total",
            "ok:false answers that are not retried (e.g. name_taken), by method and error.",
            ["method", "error"],
            registry=registry,
        )
        self.dead = Counter(
            "incident_bot_outbox_dead_total",
            "Messages given up on (dead-lettered): alert on any increase.",
            ["method", "reason"],
            registry=registry,
        )
        self.handler_failures = Counter(
            "incident_bot_outbox_handler_failures_total",
            "Result handlers that raised after a delivered call, by handler.",
            ["handler"],
            registry=registry,
        )
        self.open_messages = Gauge(
            "incident_bot_outbox_open_messages",
            "Outbox messages waiting to be delivered (pending or retrying).",
            registry=registry,
        )
        self.reminders = Counter(
            "incident_bot_reminders_total",
            "Reminders, nudges and escalations fired, by kind.",
            ["kind"],
            registry=registry,
        )
        self.paging_failures = Counter(
            "incident_bot_paging_failures_total",
            "Failed calls of the paging webhook (retried; gave_up=true when abandoned).",
            ["gave_up"],
            registry=registry,
        )
