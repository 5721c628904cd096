"""Pacing of Web API calls in one process: per channel for chat.postMessage, per method tier
for the rest, and pauses after a 429.

Each key is paced by the generic cell rate algorithm: calls are spaced ``interval`` apart on
average with a burst of up to ``burst`` calls, and ``reserve`` answers how long to wait
for the next slot (already taken for the caller). Several bot replicas each pace themselves;
Slack's 429s (honoured through ``pause``) cover what they add up to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.chat import methods
from bot.chat.settings import OutboxSettings

Key = tuple[str, str]


class RateLimiter:
    def __init__(self, settings: OutboxSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._clock = clock
        self._theoretical_arrival: dict[Key, float] = {}
        self._paused_until: dict[Key, float] = {}

    def key(self, method: str, payload: dict[str, Any]) -> Key:
        if methods.METHOD_TIERS.get(method) == methods.PER_CHANNEL:
            return (method, str(payload.get("channel", "")))
        return (method, "")

    def _pace(self, key: Key) -> tuple[float, int]:
        """(seconds between calls, burst) of ``key``."""
        tier = methods.METHOD_TIERS.get(key[0], 4)
        if tier == methods.PER_CHANNEL:
            return self._settings.per_channel_interval_s, 1
        per_minute = self._settings.tier_per_minute.get(tier, 100.0)
        if per_minute <= 0:
            return 0.0, 1
        return 60.0 / per_minute, max(1, int(per_minute / 6))

    def paused_for(self, key: Key) -> float:
        """Seconds left of a pause Slack asked for (429), 0 when none."""
        return max(0.0, self._paused_until.get(key, 0.0) - self._clock())

    def pause(self, key: Key, seconds: float) -> None:
        self._paused_until[key] = max(self._paused_until.get(key, 0.0), self._clock() + seconds)

    def reserve(self, key: Key) -> float:
        """Take the next slot of ``key``; return how long to wait before using it."""
        now = self._clock()
        interval, burst = self._pace(key)
        arrival = max(self._theoretical_arrival.get(key, now), now)
        delay = max(0.0, round(arrival - interval * (burst - 1) - now, 6))
        self._theoretical_arrival[key] = arrival + interval
        return max(delay, self.paused_for(key))
