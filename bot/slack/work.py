"""Slow work after the ack: tracked background tasks in the web app's event loop.

Slack wants an answer within 3 seconds; handlers acknowledge first and hand the rest (flows,
Web API reads, replies) to ``BackgroundWork.spawn``. Tasks are kept (the event loop only holds
weak references), failures are logged, and ``stop`` lets running work finish briefly before
cancelling it, so shutting down does not cut a flow in half silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundWork:
    def __init__(self, *, grace_seconds: float = 10.0) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._grace = grace_seconds

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(self._guarded(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(self, work: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("slack work %s failed", name)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, within_s: float = 10.0) -> None:
        """Wait until no work is running (tests, shutdown); TimeoutError after ``within_s``."""
        async with asyncio.timeout(within_s):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        if not self._tasks:
            return
        try:
            await self.drain(self._grace)
        except TimeoutError:
            log.warning("cancelling %d slack task(s) still running at shutdown", len(self._tasks))
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
