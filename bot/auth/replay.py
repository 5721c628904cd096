"""Signed requests are accepted once: the signatures seen recently, per process.

A Slack request signature or an HMAC webhook signature covers a timestamp and the body, so the
same signature is the same request. Senders' clocks may be off by the replay window (five
minutes by default), so a signature is remembered for that long; after it, the timestamp check
refuses the request anyway. The memory is this process's: with several replicas behind a load
balancer a replay can reach another replica within the window (docs/permissions.md).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class ReplayGuard:
    def __init__(self, *, max_entries: int = 200_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    def claim(self, key: str, ttl_s: float) -> bool:
        """True the first time ``key`` is seen within ``ttl_s`` (and remember it); else False."""
        now = self._clock()
        self._forget_expired(now)
        expires = self._seen.get(key)
        if expires is not None and expires > now:
            return False
        self._seen[key] = now + ttl_s
        self._seen.move_to_end(key)
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return True

    def release(self, key: str) -> None:
        """Forget a claim whose request was not accepted after all (the sender may retry it)."""
        self._seen.pop(key, None)

    def _forget_expired(self, now: float) -> None:
        while self._seen:
            key, expires = next(iter(self._seen.items()))
            if expires > now:
                return
            del self._seen[key]
