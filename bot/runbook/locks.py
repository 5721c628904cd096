"""One active run per target resource, enforced by the database.

A run holds a row per target (the primary key is the target), inserted in the transaction that
creates the run (or starts a step or an undo) and deleted in the one that finishes it. Two
replicas inserting the same target at once: one commits, the other gets a unique violation
and an ``AlreadyRunningError`` naming the run that holds it. Read-only actions take no lock.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import utcnow
from bot.errors import AlreadyRunningError
from bot.runbook.states import format_run_ref
from bot.runbook.tables import RunbookLock


async def holder(session: AsyncSession, target: str) -> int | None:
    lock = (await session.exec(select(RunbookLock).where(RunbookLock.target == target))).first()
    return lock.run_id if lock else None


async def acquire(session: AsyncSession, run_id: int, targets: Iterable[str]) -> None:
    """Hold every target for ``run_id`` (those it holds already are fine), or raise."""
    for target in sorted(set(targets)):
        current = await holder(session, target)
        if current == run_id:
            continue
        if current is None:
            try:
                # A savepoint: on a unique violation the transaction stays usable to name the holder.
                async with session.begin_nested():
                    session.add(RunbookLock(target=target, run_id=run_id, acquired_at=utcnow()))
                    await session.flush()
                continue
            except IntegrityError:
                current = await holder(session, target)
        raise _already_running(target, current)


def _already_running(target: str, run_id: int | None) -> AlreadyRunningError:
    ref = format_run_ref(run_id) if run_id is not None else "another run"
    return AlreadyRunningError(
        f"already running: {ref} holds {target}",
        hint=f"wait for {ref} to finish, or cancel it",
        run=ref,
        target=target,
    )


async def release(session: AsyncSession, run_id: int) -> None:
    await session.exec(delete(RunbookLock).where(col(RunbookLock.run_id) == run_id))


async def held(session: AsyncSession, run_id: int) -> list[str]:
    rows = await session.exec(select(RunbookLock.target).where(RunbookLock.run_id == run_id))
    return sorted(rows.all())
