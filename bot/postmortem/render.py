"""Render a postmortem draft with the user's Jinja2 template (``templates/postmortem.md.j2``).

Templates are user-owned content, rendered in a sandbox with StrictUndefined so a typo in a
template is an error that names the variable, not a silently empty section.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from bot.db import Database
from bot.errors import InputError
from bot.incident import flows
from bot.postmortem import blameless
from bot.postmortem.facts import action_item_text, collect

TEMPLATE = "postmortem.md.j2"


def human_duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def environment(templates_dir: Path) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(templates_dir)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["duration"] = human_duration
    env.filters["action_item"] = action_item_text
    env.filters["utc"] = lambda dt: dt.strftime("%Y-%m-%d %H:%M UTC") if dt else "—"
    env.filters["hm"] = lambda dt: dt.strftime("%H:%M:%S") if dt else "—"
    return env


async def render_postmortem(db: Database, ref: str, templates_dir: Path) -> str:
    """The markdown draft for incident ``ref``."""
    incident = await flows.get_incident(db, ref)
    events = await flows.get_timeline(db, ref, limit=100_000)
    facts = collect(incident, events)
    findings = blameless.check([incident.summary, *(e.text for e in facts.notes)])
    try:
        template = environment(templates_dir).get_template(TEMPLATE)
        return template.render(facts=facts, incident=incident, findings=findings)
    except TemplateError as exc:
        raise InputError(
            f"postmortem template {templates_dir / TEMPLATE}: {exc.message or exc}",
            hint="fix the template (variables available: facts, incident, findings)",
        ) from None
