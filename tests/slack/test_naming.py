"""Channel names: valid Slack names from the pattern, collisions, length limit."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.errors import ConfigError
from bot.slack.naming import MAX_NAME, channel_name, check_pattern, slugify

VALID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
AT = datetime(2026, 3, 9, 3, 12, tzinfo=UTC)


def name(title: str, attempt: int = 1, pattern: str = "inc-{number}-{slug}") -> str:
    return channel_name(pattern, number=42, title=title, severity="SEV2", declared_at=AT, attempt=attempt)


def test_default_pattern() -> None:
    assert name("Fraud model latency") == "inc-42-fraud-model-latency"


def test_punctuation_unicode_and_case_become_a_valid_name() -> None:
    result = name("Fraud-Model: p99 > 2s!! (café Ünïcode)")
    assert result == "inc-42-fraud-model-p99-2s-cafe-unicode"
    assert VALID.match(result)


@pytest.mark.parametrize("attempt", [1, 2, 3, 17, 120])
def test_long_titles_fit_80_characters_with_the_suffix(attempt: int) -> None:
    result = name("word " * 60, attempt=attempt)
    assert len(result) <= MAX_NAME
    assert VALID.match(result)
    if attempt > 1:
        assert result.endswith(f"-{attempt}")
    assert not result.removesuffix(f"-{attempt}").endswith("-")


def test_collisions_append_a_counter() -> None:
    assert [name("db down", a) for a in (1, 2, 3)] == [
        "inc-42-db-down",
        "inc-42-db-down-2",
        "inc-42-db-down-3",
    ]


def test_empty_or_symbol_only_title() -> None:
    assert name("!!!") == "inc-42"


def test_other_placeholders() -> None:
    assert name("x", pattern="{date}-{severity}-incident-{number}") == "20260309-sev2-incident-42"


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("inc-{slug}", "must contain {number}"),
        ("inc-{number}-{team}", "unknown placeholder"),
        ("inc-{", "valid"),
    ],
)
def test_bad_patterns_are_config_errors(pattern: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)):
        check_pattern(pattern)


def test_good_pattern_passes() -> None:
    check_pattern("inc-{number}-{slug}")


def test_slugify() -> None:
    assert slugify("  Hello__World -- again ") == "hello__world-again"
