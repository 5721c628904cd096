"""Start-up checks: the whole configuration at once, before the bot starts anything.

``serve`` and ``incident-bot config check`` run :func:`check` on loaded settings. It reports
every problem it finds, not the first: each secret reference resolved, each content folder
present, each runbook valid (against every action the bot knows), each alert-source mapping
readable, each integration instance buildable, Slack credentials complete. Each problem names
where it is written (the config file, an environment variable, a runbook file), the field,
what is wrong and the fix. Nothing here connects anywhere; ``config check --connect`` adds the
integrations' own checks and the database's.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bot.config import DEFAULT_TEMPLATES_DIR, Settings
from bot.errors import ConfigError, Problem
from bot.postmortem.render import TEMPLATE as POSTMORTEM_TEMPLATE
from bot.runbook.builtin import register_builtin_actions
from bot.runbook.loader import Catalog
from integrations.base import ActionRegistry
from integrations.credentials import SecretRef
from integrations.settings import IntegrationsSettings
from integrations.sources import registry as source_registry
from integrations.wiring import build_integrations


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    #: Worth knowing, not worth refusing to start (printed by `config check` and `serve`).
    warnings: list[Problem] = field(default_factory=list)
    #: What was checked, one short line each (``config check`` prints them when all is well).
    checked: list[str] = field(default_factory=list)


def origin(settings: Settings, *path: str) -> str:
    """Where a setting was written: the environment variable that set it, else the file."""
    env = {name.upper(): name for name in os.environ}
    for end in range(len(path), 0, -1):
        name = "INCIDENT_BOT_" + "__".join(path[:end]).upper()
        if name in env:
            return f"environment variable {env[name]}"
    if len(path) >= 2 and path[0] == "slack" and f"SLACK_{path[1].upper()}" in env:
        return f"environment variable {env[f'SLACK_{path[1].upper()}']}"
    return str(settings.config_file) if settings.config_file else "settings"


def _secret_refs(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], SecretRef]]:
    if isinstance(value, SecretRef):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_refs(getattr(value, name), (*path, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_refs(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _secret_refs(item, (*path, str(index)))


def _secrets(settings: Settings, report: Report) -> set[str]:
    """Every secret reference resolved; returns the top-level sections with a missing one."""
    broken: set[str] = set()
    count = 0
    for path, ref in _secret_refs(settings, ()):
        count += 1
        where = origin(settings, *path)
        dotted = ".".join(path)
        if ref.env is not None:
            value = os.environ.get(ref.env)
            if value is None:
                what, fix = (
                    f"environment variable {ref.env} is not set",
                    f"set {ref.env} in the bot's environment",
                )
            elif not value.strip():
                what, fix = f"environment variable {ref.env} is empty", f"give {ref.env} the secret's value"
            else:
                continue
        else:
            try:
                if ref.resolve().get_secret_value():
                    continue
                what, fix = f"secret file {ref.file} is empty", "write the secret into it"
            except ConfigError as exc:
                what, fix = exc.message, exc.hint or "check the path"
        broken.add(path[0])
        report.problems.append(Problem(where, dotted, what, fix))
    report.checked.append(f"secrets: {count} reference(s)")
    return broken


def _slack(settings: Settings, report: Report) -> None:
    slack = settings.slack
    if slack.configured:
        report.checked.append("chat: Slack (" + ("Socket Mode" if slack.app_token else "HTTP mode") + ")")
        if slack.app_token is None and slack.signing_secret is None:
            report.warnings.append(
                Problem(
                    origin(settings, "slack", "bot_token"),
                    "slack.signing_secret",
                    "the bot posts to Slack but takes no commands or buttons "
                    "(no signing secret, no app token)",
                    "set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode)",
                )
            )
        return
    for name in ("signing_secret", "app_token"):
        if getattr(slack, name) is not None:
            report.problems.append(
                Problem(
                    origin(settings, "slack", name),
                    f"slack.{name}",
                    f"SLACK_{name.upper()} is set but SLACK_BOT_TOKEN is not, so Slack cannot be used",
                    "set SLACK_BOT_TOKEN (README: Connect Slack), "
                    f"or unset SLACK_{name.upper()} to run on the console chat adapter",
                )
            )
    report.checked.append("chat: console adapter (no Slack bot token)")


def _folders(settings: Settings, report: Report) -> bool:
    """Content folders present; False when the runbooks folder is missing."""
    ok = True
    for name, folder in (
        ("runbooks_dir", settings.runbooks_path),
        ("templates_dir", settings.templates_path),
    ):
        if not folder.is_dir():
            what = "is a file, not a folder" if folder.exists() else "does not exist"
            report.problems.append(
                Problem(
                    origin(settings, name),
                    name,
                    f"{folder.absolute()} {what}",
                    f"create it, or point {name} at an existing folder (unset: the shipped defaults)",
                )
            )
            ok = ok and name != "runbooks_dir"
    template = settings.templates_path / POSTMORTEM_TEMPLATE
    if settings.templates_path.is_dir() and not template.is_file():
        report.problems.append(
            Problem(
                origin(settings, "templates_dir"),
                "templates_dir",
                f"{settings.templates_path} has no {POSTMORTEM_TEMPLATE}",
                f"copy the shipped one from {DEFAULT_TEMPLATES_DIR / POSTMORTEM_TEMPLATE}",
            )
        )
    return ok


def action_registry() -> ActionRegistry:
    """Every action a runbook can name (each kind registers its actions with or without
    instances), so runbooks validate even while an integration's secret is missing."""
    integrations = build_integrations(IntegrationsSettings())
    asyncio.run(integrations.aclose())
    register_builtin_actions(integrations.actions)
    return integrations.actions


def _runbooks(settings: Settings, report: Report) -> set[str]:
    """Every runbook file valid; returns the names of the valid ones."""
    catalog = Catalog(settings.runbooks_path, action_registry())
    names = set()
    reports = catalog.reports()
    for file in reports:
        if file.runbook is not None:
            names.add(file.runbook.name)
        for error in file.errors:
            place = ", ".join(f"{k} {error.context[k]}" for k in ("step", "field") if error.context.get(k))
            what = error.message
            prefix = ", ".join(
                f"{k} {error.context[k]}" for k in ("file", "step", "field") if error.context.get(k)
            )
            what = what.removeprefix(f"{prefix}: ")
            report.problems.append(Problem(str(file.path), place, what, error.hint or "see docs/runbooks.md"))
    report.checked.append(f"runbooks: {len(names)} valid in {settings.runbooks_path}")
    return names


def _routes(settings: Settings, runbooks: set[str], report: Report) -> None:
    """Routes name runbooks that exist."""
    rules = [*settings.alerts.routes, settings.alerts.default_route]
    for index, rule in enumerate(rules):
        field_base = (
            f"alerts.routes[{index}]" if index < len(settings.alerts.routes) else "alerts.default_route"
        )
        named = [(f"{field_base}.runbooks", n) for n in rule.runbooks]
        named += [(f"{field_base}.auto_run[{i}].runbook", a.runbook) for i, a in enumerate(rule.auto_run)]
        for field_name, name in named:
            if name not in runbooks:
                report.problems.append(
                    Problem(
                        origin(settings, "alerts"),
                        field_name,
                        f"no valid runbook named {name!r} in {settings.runbooks_path}",
                        f"use one of: {', '.join(sorted(runbooks)) or 'none'}",
                    )
                )


def _sources(settings: Settings, report: Report) -> None:
    base_dir = settings.config_file.resolve().parent if settings.config_file else None
    for name, source in settings.alerts.sources.items():
        if not isinstance(source.mapping, str):
            continue
        try:
            if source.mapping.endswith((".yaml", ".yml")):
                path = Path(source.mapping)
                if not path.is_absolute() and base_dir is not None:
                    path = base_dir / path
                source_registry.load_mapping(path)
            else:
                source_registry.builtin_mapping(source.mapping)
        except ConfigError as exc:
            report.problems.append(
                Problem(
                    origin(settings, "alerts"),
                    f"alerts.sources.{name}.mapping",
                    exc.message,
                    exc.hint or "see docs/alert-sources.md",
                )
            )
    accepting = [n for n, s in settings.alerts.sources.items() if s.auth is not None or s.unauthenticated]
    report.checked.append(
        "alert sources accepting webhooks: "
        + (", ".join(sorted(accepting)) or "none (no credential configured)")
    )


def _integrations(settings: Settings, report: Report) -> None:
    try:
        integrations = build_integrations(settings.integrations)
    except ConfigError as exc:
        field_name, _, what = exc.message.partition(": ")
        if not what:
            field_name, what = "integrations", exc.message
        report.problems.append(
            Problem(origin(settings, "integrations"), field_name, what, exc.hint or "see docs/integrations/")
        )
        return
    report.checked.append(f"integrations: {len(integrations.instances)} instance(s)")
    asyncio.run(integrations.aclose())


def check(settings: Settings) -> Report:
    """Every problem of the configuration at once (nothing is connected to)."""
    report = Report()
    broken = _secrets(settings, report)
    _slack(settings, report)
    if _folders(settings, report):
        _routes(settings, _runbooks(settings, report), report)
    _sources(settings, report)
    if "integrations" not in broken:
        _integrations(settings, report)
    return report
