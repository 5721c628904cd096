"""Prometheus metrics of runbook runs, registered in the runtime's registry by ``install``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot.runbook.signals import RunFinished, RunRequested, StepFinished


class RunbookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requested = Counter(
            "incident_bot_runbook_runs_requested_total",
            "Runbook runs requested, by runbook and origin (manual, auto).",
            ["runbook", "origin"],
            registry=registry,
        )
        self.finished = Counter(
            "incident_bot_runbook_runs_finished_total",
            "Runbook runs that reached a final state, by runbook and status.",
            ["runbook", "status"],
            registry=registry,
        )
        self.run_duration = Histogram(
            "incident_bot_runbook_run_duration_seconds",
            "From start to finish of a runbook run, by runbook.",
            ["runbook"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
            registry=registry,
        )
        self.steps = Counter(
            "incident_bot_runbook_steps_total",
            "Action calls of runbook runs, by action, phase (do, undo) and status.",
            ["action", "phase", "status"],
            registry=registry,
        )
        self.step_duration = Histogram(
            "incident_bot_runbook_step_duration_seconds",
            "From the first attempt to the end of an action call, by action.",
            ["action"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=registry,
        )
        self.executing = Gauge(
            "incident_bot_runbook_runs_executing",
            "Runbook runs this process is executing now.",
            registry=registry,
        )

    def observe(self, items: list[object]) -> None:
        """Count what a committed transaction did (a commit hook)."""
        for item in items:
            if isinstance(item, RunRequested):
                self.requested.labels(item.runbook, item.origin).inc()
            elif isinstance(item, RunFinished):
                self.finished.labels(item.runbook, item.status).inc()
                if item.duration_s is not None:
                    self.run_duration.labels(item.runbook).observe(item.duration_s)
            elif isinstance(item, StepFinished):
                self.steps.labels(item.action, item.phase, item.status).inc()
                if item.duration_s is not None:
                    self.step_duration.labels(item.action).observe(item.duration_s)
