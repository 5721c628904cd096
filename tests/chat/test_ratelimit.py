"""Pacing per channel and per method tier, and pauses after 429, on a controllable clock."""

from __future__ import annotations

import pytest

from bot.chat.ratelimit import RateLimiter
from bot.chat.settings import OutboxSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_post_message_is_paced_per_channel(clock: Clock) -> None:
    limiter = RateLimiter(OutboxSettings(), clock)
    a = limiter.key("chat.postMessage", {"channel": "CA"})
    b = limiter.key("chat.postMessage", {"channel": "CB"})
    assert [limiter.reserve(a) for _ in range(3)] == [0.0, 1.0, 2.0]
    assert limiter.reserve(b) == 0.0  # another channel is not held back
    clock.now += 10
    assert limiter.reserve(a) == 0.0


def test_tiers_allow_a_burst_then_space_calls(clock: Clock) -> None:
    limiter = RateLimiter(OutboxSettings(), clock)
    create = limiter.key("conversations.create", {"name": "x"})  # tier 2: 20/min, burst 3
    delays = [limiter.reserve(create) for _ in range(5)]
    assert delays == [0.0, 0.0, 0.0, pytest.approx(3.0), pytest.approx(6.0)]
    update = limiter.key("chat.update", {"channel": "CA"})  # tier 3: 50/min, burst 8
    assert [limiter.reserve(update) for _ in range(8)] == [0.0] * 8
    assert limiter.reserve(update) == pytest.approx(1.2)
    assert limiter.key("chat.update", {"channel": "CA"}) == limiter.key("chat.update", {"channel": "CB"})


def test_pause_after_429_holds_the_key(clock: Clock) -> None:
    limiter = RateLimiter(OutboxSettings(), clock)
    key = limiter.key("chat.update", {})
    limiter.pause(key, 30)
    assert limiter.paused_for(key) == 30
    assert limiter.reserve(key) == 30
    clock.now += 31
    assert limiter.paused_for(key) == 0 and limiter.reserve(key) == 0


def test_configured_rates(clock: Clock) -> None:
    limiter = RateLimiter(OutboxSettings(per_channel_interval_s=0.25, tier_per_minute={2: 6}), clock)
    channel = limiter.key("chat.postMessage", {"channel": "C"})
    assert [limiter.reserve(channel) for _ in range(3)] == [0.0, 0.25, 0.5]
    pins = limiter.key("pins.add", {})
    assert [limiter.reserve(pins) for _ in range(2)] == [0.0, 10.0]
