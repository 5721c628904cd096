"""Blameless language check: flag phrases that assign blame, and suggest a reframing.

A postmortem studies how the system let a reasonable action cause harm; it never asks who is
at fault. The draft lists flagged sentences so the review meeting fixes them, not the bot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERNS: list[tuple[str, str]] = [
    (r"\bhuman error\b", "describe the conditions that made the error likely"),
    (
        r"\b(his|her|their) fault\b|\bat fault\b|\bto blame\b|\bblamed?\b",
        "describe what happened, not who is at fault",
    ),
    (r"\bshould have\b|\bshould've\b", "ask what made the other choice look right at the time"),
    (r"\b(careless|negligent|sloppy|lazy|incompetent)\b", "describe the gap in tooling or process"),
    (r"\b(forgot|failed) to\b", "ask what would have made the step hard to miss"),
    (r"\bwhy did (he|she|they)\b", "ask how the system allowed it"),
]
_COMPILED = [(re.compile(p, re.IGNORECASE), hint) for p, hint in _PATTERNS]


@dataclass(frozen=True)
class Finding:
    text: str
    phrase: str
    suggestion: str


def check(texts: list[str]) -> list[Finding]:
    findings = []
    for text in texts:
        for pattern, hint in _COMPILED:
            match = pattern.search(text)
            if match:
                findings.append(Finding(text=text, phrase=match.group(0), suggestion=hint))
    return findings
