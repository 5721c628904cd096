"""incident-bot demo: the mission loop on real MLflow and MLServer, in one command."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from bot.cli.common import console, fail
from bot.demo import DemoOptions, ask_on_terminal, configs, run_demo
from bot.errors import IncidentBotError


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        workdir: Annotated[
            Path | None, typer.Option(help="Where the demo's files and logs go (default: a new temp folder).")
        ] = None,
        monitoring: Annotated[
            bool,
            typer.Option(
                "--prometheus/--without-prometheus",
                help="Use Prometheus and Alertmanager when installed, or post the webhook yourself.",
            ),
        ] = True,
        keep: Annotated[
            bool, typer.Option(help="Keep everything running after the loop, until Ctrl-C.")
        ] = False,
        undo: Annotated[
            bool, typer.Option(help="Undo the rollback at the end, to show the way back.")
        ] = True,
        verify_for: Annotated[
            float, typer.Option(min=5, max=600, help="Seconds the error rate must stay under 5 %.")
        ] = 30.0,
    ) -> None:
        """Alert → incident → approved rollback that reaches serving → verified → postmortem.

        Needs MLflow and MLServer beside the bot: pip install 'incident-bot[demo]'.
        """
        options = DemoOptions(
            workdir=workdir,
            monitoring=monitoring,
            keep=keep,
            undo=undo,
            timing=configs.Timing(verify_for_s=verify_for),
        )
        ask = ask_on_terminal if sys.stdin.isatty() else None
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the demo like Ctrl-C
        try:
            asyncio.run(run_demo(options, _say, ask))
        except IncidentBotError as exc:
            raise fail(exc) from None
        except KeyboardInterrupt:
            console.print("interrupted: every process the demo started is stopped", markup=False)
            raise typer.Exit(code=130) from None


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)
