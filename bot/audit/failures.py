"""Failed authentication (API 401/403, webhook 401, Slack signature 401) in the audit log.

A flood of bad requests must not become a flood of audit rows: each source (door and client
address) gets at most ``per_minute`` entries a minute; the next entry written for that source
says how many were left out in between (``suppressed``), so the log stays complete in count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.audit.service import audit
from bot.auth.actor import Actor, Interface
from bot.db import Database

log = logging.getLogger(__name__)

ACTION = "auth.failed"
_WINDOW_S = 60.0
_MAX_SOURCES = 10_000


@dataclass
class _Window:
    started: float
    written: int = 0
    suppressed: int = 0
    seen: float = field(default=0.0)


class AuthFailures:
    def __init__(
        self, db: Database, *, per_minute: int = 10, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = db
        self._per_minute = per_minute
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}

    async def record(
        self,
        interface: Interface,
        source: str,
        *,
        target_type: str,
        target_id: str,
        reason: str,
        **details: Any,
    ) -> bool:
        """Audit one failure unless its source is over its budget; True when written."""
        now = self._clock()
        key = (interface.value, source)
        window = self._windows.get(key)
        if window is None or now - window.started >= _WINDOW_S:
            suppressed = window.suppressed if window is not None else 0
            window = self._windows[key] = _Window(started=now, suppressed=suppressed)
            self._prune(now)
        window.seen = now
        if window.written >= self._per_minute:
            window.suppressed += 1
            return False
        window.written += 1
        suppressed, window.suppressed = window.suppressed, 0
        actor = Actor(id=source, kind="anonymous", interface=interface)
        entry = {"reason": reason, **details, **({"suppressed": suppressed} if suppressed else {})}
        try:
            async with self._db.transaction() as session:
                audit(session, actor, ACTION, target_type=target_type, target_id=target_id, details=entry)
        except Exception as exc:  # the refusal stands whether or not it could be written down
            log.warning("could not audit a failed authentication from %s: %s", source, exc)
            return False
        return True

    def _prune(self, now: float) -> None:
        if len(self._windows) <= _MAX_SOURCES:
            return
        for key in [k for k, w in self._windows.items() if now - w.seen >= _WINDOW_S and not w.suppressed]:
            del self._windows[key]
