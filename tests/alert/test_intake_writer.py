"""The inbox writer's group commit: requests share commits, and every request is answered —
committed, or a 503 (UnavailableError) within ``commit_timeout_s`` of its arrival, even when
the commit hangs or the writer itself fails."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.alert.intake import InboxEntry, InboxWriter
from bot.alert.settings import IntakeSettings
from bot.db import utcnow
from bot.errors import UnavailableError


def _entry(n: int) -> InboxEntry:
    return InboxEntry("am", "alertmanager", utcnow(), f'{{"n": {n}}}', {}, 1)


class _Store:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.error: Exception | None = None

    async def __call__(self, rows: list[dict[str, Any]]) -> None:
        await self.release.wait()
        if self.error is not None:
            raise self.error
        self.batches.append(rows)


async def _writer(store: _Store, **settings: Any) -> InboxWriter:
    writer = InboxWriter(store, IntakeSettings(**settings))
    await writer.start()
    return writer


async def test_concurrent_requests_share_commits_and_all_return_once_committed() -> None:
    store = _Store()
    store.release.clear()
    writer = await _writer(store)
    requests = [asyncio.create_task(writer.submit(_entry(n))) for n in range(20)]
    await asyncio.sleep(0.05)
    assert not any(r.done() for r in requests)  # nothing answered before its commit
    store.release.set()
    await asyncio.gather(*requests)
    assert sorted(row["body"] for batch in store.batches for row in batch) == sorted(
        f'{{"n": {n}}}' for n in range(20)
    )
    assert len(store.batches) < 20
    await writer.stop()


async def test_a_hung_commit_answers_its_requests_and_those_behind_it_within_the_timeout() -> None:
    store = _Store()
    store.release.clear()
    writer = await _writer(store, commit_timeout_s=1.0)
    loop = asyncio.get_running_loop()

    async def answered_after(n: int) -> float:
        """Seconds from this request's arrival to its 503."""
        arrived = loop.time()
        with pytest.raises(UnavailableError, match=r"not committed within 1s"):
            await asyncio.wait_for(writer.submit(_entry(n)), 5)
        return loop.time() - arrived

    first = asyncio.create_task(answered_after(1))
    await asyncio.sleep(0.1)
    behind = asyncio.create_task(answered_after(2))  # waits behind the hung commit
    # Each within its own second of arriving: a timer started only when its own commit began
    # (after the first one's second) would answer the second request 1.9 s after it arrived.
    assert await first < 1.4
    assert await behind < 1.4
    store.release.set()
    await writer.submit(_entry(3))  # the database is back: commits again
    assert store.batches[-1][0]["body"] == '{"n": 3}'
    await writer.stop()


async def test_a_failed_commit_fails_its_requests_with_503() -> None:
    store = _Store()
    store.error = RuntimeError("disk I/O error")
    writer = await _writer(store)
    with pytest.raises(UnavailableError, match="could not be committed") as refused:
        await writer.submit(_entry(1))
    assert refused.value.context["error"] == "RuntimeError"
    await writer.stop()


async def test_if_the_writer_dies_waiting_and_new_requests_get_503() -> None:
    store = _Store()

    def broken_hook() -> None:
        raise RuntimeError("bug after a commit")

    writer = InboxWriter(store, IntakeSettings(), on_commit=broken_hook)
    await writer.start()
    await writer.submit(_entry(1))  # committed: answered before the hook runs
    await asyncio.sleep(0.01)
    with pytest.raises(UnavailableError, match="not running"):
        await asyncio.wait_for(writer.submit(_entry(2)), 1)
