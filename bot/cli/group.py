"""The root command group: one rule for every error, and help a person can read.

Errors (the same for every sub-command, so no command has to remember it):

- an expected error (the bot's own errors, invalid input, a usage mistake) is one line on
  stderr, ``error: <what and where>; <what to do>``, and exit code 2;
- an unexpected one is one line naming a log file that holds the traceback, and exit code 3;
  ``--debug`` shows the traceback instead.

Exit code 1 stays for commands that ran and report a negative outcome (a failed check, a run
that did not succeed).

Help: typer prints a parameter's Python type (``<list[str]>``, ``<bool>``); every parameter
here gets a plain metavar instead (``MODEL``, ``SEV1|SEV2|SEV3|SEV4``, none for flags).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import tempfile
import traceback
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from typer.core import TyperArgument, TyperGroup, TyperOption

from bot import __version__
from bot.errors import IncidentBotError, InputError, InvalidConfigError

EXPECTED_EXIT = 2
UNEXPECTED_EXIT = 3


class Flags:
    """Root options that change how errors are shown (set by the root callback)."""

    debug: bool = False


flags = Flags()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def report(error: IncidentBotError) -> None:
    """Print an expected error: one line (a configuration report: one line per problem)."""
    if isinstance(error, InvalidConfigError):
        sys.stderr.write(f"error: {error.summary}:\n")
        for problem in error.problems:
            sys.stderr.write(f"  {_one_line(problem.line())}\n")
        return
    line = f"error: {_one_line(error.message)}"
    if error.hint:
        line += f"; {_one_line(error.hint)}"
    sys.stderr.write(line + "\n")


def input_error(exc: ValidationError) -> InputError:
    """A pydantic error on command input as one InputError ("--title: should not be empty")."""
    parts = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"] if isinstance(p, str | int))
        message = (
            str(err.get("ctx", {}).get("error", err["msg"])) if err["type"] == "value_error" else err["msg"]
        )
        message = message.removeprefix("Value error, ")
        parts.append(f"{field}: {message[:1].lower()}{message[1:]}" if field else message)
    return InputError("invalid input: " + "; ".join(parts), hint="see the command's --help")


def state_dir() -> Path:
    """Where the CLI writes crash logs: ``$XDG_STATE_HOME/incident-bot`` (~/.local/state)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "incident-bot"


def write_crash_log(exc: BaseException) -> Path:
    """Write the traceback (and what was run) to a new file; its path goes in the error line."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = (
        f"incident-bot {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
        f"command: {' '.join(sys.argv)}\n"
        f"time: {stamp}\n\n" + "".join(traceback.format_exception(exc))
    )
    for folder in (state_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"incident-bot-crash-{stamp}-{os.getpid()}.log"
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    raise exc  # nowhere to write: the traceback itself is the report


def unexpected(exc: BaseException) -> typer.Exit:
    path = write_crash_log(exc)
    first = str(exc).splitlines()[0] if str(exc) else ""
    sys.stderr.write(
        f"error: unexpected {type(exc).__name__}{': ' + first if first else ''}; "
        f"the traceback is in {path} (add --debug to see it here); please report it\n"
    )
    return typer.Exit(UNEXPECTED_EXIT)


class BotGroup(TyperGroup):
    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        polish_help(self)
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Abort:
            sys.stderr.write("aborted\n")
            sys.exit(1)
        except typer.TyperException as exc:  # usage errors: a missing argument, a bad value
            code = int(getattr(exc, "exit_code", EXPECTED_EXIT))
            if type(exc).__name__ != "NoArgsIsHelpError":  # the help is the answer
                ctx = getattr(exc, "ctx", None)
                where = f"; see '{ctx.command_path} --help'" if ctx is not None else ""
                message = _one_line(exc.format_message()).replace("Value error, ", "").rstrip(".")
                sys.stderr.write(f"error: {message}{where}\n")
            sys.exit(code)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except IncidentBotError as exc:
            report(exc)
            raise typer.Exit(EXPECTED_EXIT) from None
        except ValidationError as exc:
            report(input_error(exc))
            raise typer.Exit(EXPECTED_EXIT) from None
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            if flags.debug:
                raise
            raise unexpected(exc) from None


# ---------------------------------------------------------------------------------------------
# Help without Python type names


def _choices(param: TyperOption | TyperArgument) -> list[str]:
    descriptor = param.type_descriptor
    return [str(c.value if isinstance(c, Enum) else c) for c in (descriptor.choices or ())]


def _metavar(param: TyperOption | TyperArgument) -> str | None:
    if isinstance(param, TyperOption) and param.is_flag:
        return None
    choices = _choices(param)
    if choices and len("|".join(choices)) <= 32:
        return "|".join(choices)
    descriptor = param.type_descriptor
    if descriptor.is_path:
        return "PATH"
    annotation = descriptor.annotation
    if annotation is int or annotation is float:
        return "N"
    return (param.name or "value").upper()


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        return self.metavar


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name column already shows the metavar


def polish_help(command: Any) -> None:
    """Give every parameter of the tree a plain metavar (once; idempotent)."""
    # --help is made on first use and cached on the command: make it now to polish it too.
    help_option = command.get_help_option(typer.Context(command))
    for param in [*getattr(command, "params", []), *([help_option] if help_option else [])]:
        if isinstance(param, _Option | _Argument):
            continue
        if isinstance(param, TyperOption):
            param.metavar = _metavar(param) or ""
            choices = _choices(param)
            if choices and param.metavar not in {"|".join(choices), ""} and param.help is not None:
                param.help = f"{param.help} One of: {', '.join(choices)}.".strip()
            elif choices and param.metavar not in {"|".join(choices), ""}:
                param.help = f"One of: {', '.join(choices)}."
            param.__class__ = _Option
        elif isinstance(param, TyperArgument):
            param.metavar = _metavar(param)
            param.__class__ = _Argument
    for sub in getattr(command, "commands", {}).values():
        polish_help(sub)
