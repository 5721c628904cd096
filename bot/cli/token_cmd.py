"""incident-bot token ...: API tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bot.auth import flows, service
from bot.auth.service import Scope
from bot.cli.access import actor, services
from bot.cli.common import console, database, err_console, run

app = typer.Typer(help="API tokens (bearer, with scopes read/write/admin).", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name that says who uses the token.")],
    scope: Annotated[list[Scope], typer.Option("--scope", "-s", help="read, write or admin; repeatable.")],
) -> None:
    """Create a token and print it once (only its hash is stored).

    The token alone goes to stdout, so `export TOKEN=$(incident-bot token create me -s write)`
    works; what it is goes to stderr."""

    who = actor()

    async def _create() -> str:
        async with services() as (db, authz):
            _row, clear = await flows.create_token(db, name, scope, who, authz=authz)
            return clear

    clear = run(_create)
    err_console.print(
        f"token {name!r} ({', '.join(s.value for s in scope)}); it will not be shown again:", markup=False
    )
    print(clear)


@app.command("list")
def list_() -> None:
    """List tokens (names, prefixes and scopes; never the secret)."""

    async def _list() -> list[list[str]]:
        async with database() as db, db.session() as session:
            return [
                [
                    t.name,
                    t.prefix + "…",
                    ",".join(t.scopes),
                    t.created_by,
                    t.created_at.strftime("%Y-%m-%d %H:%M"),
                    t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never",
                    "revoked" if t.revoked_at else "active",
                ]
                for t in await service.list_tokens(session)
            ]

    table = Table("name", "prefix", "scopes", "created by", "created", "last used", "state")
    for row in run(_list):
        table.add_row(*row)
    console.print(table)


@app.command("revoke")
def revoke(name: str) -> None:
    """Revoke the active token of that name."""

    who = actor()

    async def _revoke() -> None:
        async with services() as (db, authz):
            await flows.revoke_token(db, name, who, authz=authz)

    run(_revoke)
    console.print(f"token {name!r} revoked")
