"""Wire runbooks into a runtime: built-in actions, metrics, the worker, the auto-run trigger."""

from __future__ import annotations

from bot.runbook.builtin import register_builtin_actions
from bot.runbook.metrics import RunbookMetrics
from bot.runbook.worker import RunbookWorker
from bot.runtime import Runtime


def installed(runtime: Runtime) -> RunbookWorker | None:
    for hook in runtime.db.commit_hooks:
        owner = getattr(hook, "__self__", None)
        if isinstance(owner, RunbookWorker):
            return owner
    return None


def install(runtime: Runtime) -> RunbookWorker:
    """Idempotent. The worker runs in this process unless ``runbooks.worker`` is off; the
    auto-run trigger and the metrics work either way."""
    existing = installed(runtime)
    if existing is not None:
        return existing
    register_builtin_actions(runtime.actions)
    worker = RunbookWorker(runtime, metrics=RunbookMetrics(runtime.metrics.registry))
    runtime.db.commit_hooks.append(worker.on_commit)
    runtime.bus.subscribe(worker.on_event)
    if runtime.settings.runbooks.worker:
        runtime.components.append(worker)
    return worker
