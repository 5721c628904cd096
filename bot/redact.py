"""Keep secrets out of the timeline, the audit log, chat and logs."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "***"
_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|api[-_]?key|authorization|credential|private[-_]?key|cookie)",
    re.IGNORECASE,
)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def redact(value: Any, extra_secrets: tuple[str, ...] = ()) -> Any:
    """A copy of ``value`` with secret-looking keys masked and known secret values replaced."""
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and is_secret_key(k) else redact(v, extra_secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, extra_secrets) for v in value]
    if isinstance(value, str):
        for secret in extra_secrets:
            if secret and len(secret) >= 4:
                value = value.replace(secret, REDACTED)
        return value
    return value
