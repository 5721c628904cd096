"""Incident channel names: from the configured pattern to a valid, unique Slack name.

Slack channel names are at most 80 characters of lowercase letters, digits, hyphens and
underscores. The pattern (``slack.channel_name_pattern``, default ``inc-{number}-{slug}``)
may use ``{number}``, ``{slug}``, ``{severity}`` and ``{date}`` (YYYYMMDD of the declaration).
When Slack answers ``name_taken`` the next attempt appends ``-2``, ``-3``... and shortens
the base so the suffix always fits.
"""

from __future__ import annotations

import re
import string
import unicodedata
from datetime import datetime

from bot.errors import ConfigError

MAX_NAME = 80
PLACEHOLDERS = {"number", "slug", "severity", "date"}
_INVALID = re.compile(r"[^a-z0-9_-]+")
_DASHES = re.compile(r"-{2,}")


def slugify(text: str) -> str:
    """ASCII, lowercase, words joined by single hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _DASHES.sub("-", _INVALID.sub("-", ascii_text.lower())).strip("-_")


def check_pattern(pattern: str) -> None:
    """Raise ConfigError unless ``pattern`` only uses the known placeholders and names the number."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}
    except ValueError as exc:
        raise ConfigError(f"slack.channel_name_pattern {pattern!r} is not a valid pattern: {exc}") from None
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise ConfigError(
            f"slack.channel_name_pattern uses unknown placeholder(s) {', '.join(sorted(unknown))}",
            hint="use {number}, {slug}, {severity} and {date}",
        )
    if "number" not in fields:
        raise ConfigError(
            "slack.channel_name_pattern must contain {number}",
            hint="the incident number keeps channel names unique and findable, e.g. inc-{number}-{slug}",
        )


def channel_name(
    pattern: str, *, number: int, title: str, severity: str, declared_at: datetime, attempt: int = 1
) -> str:
    """The channel name for ``attempt`` (1 = the plain name, 2 → ``-2``...)."""
    base = pattern.format(
        number=number,
        slug="{slug}",
        severity=severity.lower(),
        date=declared_at.strftime("%Y%m%d"),
    )
    suffix = f"-{attempt}" if attempt > 1 else ""
    # Everything but the slug is fixed; the slug gets whatever room is left.
    fixed = slugify(base.replace("{slug}", ""))
    room = max(MAX_NAME - len(fixed) - len(suffix), 0)
    slug = slugify(title)[:room].rstrip("-_")
    name = slugify(base.replace("{slug}", slug))
    return name[: MAX_NAME - len(suffix)].rstrip("-_") + suffix
