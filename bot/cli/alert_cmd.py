"""incident-bot silence ... and incident-bot alert ...: silences and alerts from a terminal."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from bot.alert import flows
from bot.alert.schemas import AlertPage, AlertQuery, InboxStatus, SilenceCreate, SilenceOut
from bot.cli.access import actor, services
from bot.cli.common import console, database, fail, run
from bot.errors import InputError

silence_app = typer.Typer(
    help="Silences: alerts that match are stored but open nothing.", no_args_is_help=True
)
alert_app = typer.Typer(help="Alerts received from monitoring webhooks.", no_args_is_help=True)

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """``90``, ``30m``, ``2h``, ``1d`` → seconds."""
    found = _DURATION.match(text)
    if found is None or int(found.group(1)) == 0:
        raise typer.BadParameter(f"{text!r} is not a duration like 30m, 2h or 1d")
    return int(found.group(1)) * _UNITS[found.group(2)]


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


@silence_app.command("create")
def create(
    match: Annotated[
        list[str], typer.Option("--match", "-m", help='Label matcher, e.g. model="fraud"; repeatable.')
    ],
    duration: Annotated[str, typer.Option(help="How long: 30m, 2h, 1d...")],
    reason: Annotated[str, typer.Option(help="Why (shown on incident timelines).")],
) -> None:
    """Silence alerts matching every --match for --duration."""
    try:
        data = SilenceCreate(matchers=match, duration_s=parse_duration(duration), reason=reason)
    except ValidationError as exc:
        message = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise fail(InputError(message)) from None

    who = actor()

    async def _create() -> SilenceOut:
        async with services() as (db, authz):
            return await flows.create_silence(db, data, who, authz=authz)

    silence = run(_create)
    console.print(
        f"silence {silence.id} until {_when(silence.ends_at)}: {', '.join(silence.matchers)} "
        f"({silence.silenced_alerts} firing alert(s) silenced now)"
    )


@silence_app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include expired silences.")] = False,
) -> None:
    """Active and pending silences."""

    async def _list() -> list[SilenceOut]:
        async with database() as db:
            return await flows.list_silences(db, include_expired=all_)

    table = Table("id", "state", "matchers", "until", "by", "reason", title="silences")
    for s in run(_list):
        table.add_row(str(s.id), s.state, ", ".join(s.matchers), _when(s.ends_at), s.created_by, s.reason)
    console.print(table)


@silence_app.command("expire")
def expire(silence_id: Annotated[int, typer.Argument(help="The silence's id.")]) -> None:
    """End a silence now (its alerts are released at the next processor sweep)."""

    who = actor()

    async def _expire() -> SilenceOut:
        async with services() as (db, authz):
            return await flows.expire_silence(db, silence_id, who, authz=authz)

    silence = run(_expire)
    console.print(f"silence {silence.id} expired")


@alert_app.command("list")
def list_alerts(
    status: Annotated[str | None, typer.Option(help="firing or resolved.")] = None,
    source: Annotated[str | None, typer.Option()] = None,
    incident: Annotated[str | None, typer.Option(help="INC-n")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Alerts, most recently seen first."""
    if status not in (None, "firing", "resolved"):
        raise typer.BadParameter("--status is firing or resolved")
    query = AlertQuery(status=status, source=source, incident=incident, limit=limit)

    async def _list() -> AlertPage:
        async with database() as db:
            return await flows.list_alerts(db, query)

    page = run(_list)
    table = Table("fingerprint", "status", "sev", "title", "incident", "seen", title=f"{page.total} alert(s)")
    for a in page.items:
        flags = [flag for flag, on in (("silenced", a.silenced_by), ("flapping", a.flapping)) if on]
        status = a.status + "".join(f", {flag}" for flag in flags)
        table.add_row(a.fingerprint, status, a.severity, a.title, a.incident or "—", str(a.count))
    console.print(table)


@alert_app.command("inbox")
def inbox() -> None:
    """Webhook requests waiting to be processed, and those set aside after failing."""

    async def _status() -> InboxStatus:
        async with database() as db:
            return await flows.inbox_status(db)

    status = run(_status)
    console.print(
        f"pending: {status.pending} (oldest {_when(status.oldest_pending_at)}), failed: {status.failed}"
    )
    for row in status.recent_failures:
        console.print(f"  #{row['id']} {row['source']} ({row['attempts']} attempts): {row['error']}")
