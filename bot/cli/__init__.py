"""The ``incident-bot`` command. Thin: parse, call services and flows, print.

Sub-commands live in one module each and are registered here.
"""

from __future__ import annotations

from bot.cli import (
    alert_cmd,
    config_cmd,
    db_cmd,
    demo_cmd,
    incident_cmd,
    integrations_cmd,
    runbook_cmd,
    serve_cmd,
    token_cmd,
)
from bot.cli.common import app

app.add_typer(config_cmd.app, name="config")
app.add_typer(db_cmd.app, name="db")
app.add_typer(token_cmd.app, name="token")
app.add_typer(incident_cmd.app, name="incident")
app.add_typer(integrations_cmd.app, name="integrations")
app.add_typer(runbook_cmd.app, name="runbook")
app.add_typer(alert_cmd.silence_app, name="silence")
app.add_typer(alert_cmd.alert_app, name="alert")
serve_cmd.register(app)
demo_cmd.register(app)


def main() -> None:
    app()
