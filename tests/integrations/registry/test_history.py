"""Alias history records and the choice of a rollback target (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations.base import ActionContext
from integrations.registry.history import (
    AliasMove,
    choose_rollback,
    is_validated,
    moved_tag,
    previous_tag,
)
from integrations.registry.protocol import ModelVersion


def version(number: int, status: str = "READY", **tags: str) -> ModelVersion:
    return ModelVersion(
        name="fraud", version=str(number), run_id=None, source=f"s3://dummy/{number}",
        created_at=datetime(2025, 1, number, tzinfo=UTC), tags=tags, aliases=(),
        status=status,
    )


def with_tags(number: int, tags: dict[str, str], status: str = "READY") -> ModelVersion:
    # History tag keys contain dots, so they cannot be keyword arguments of `version`.
    return version(number, status, **tags)


PREV = previous_tag("champion")
MOVED = moved_tag("champion")


def test_tag_names() -> None:
    assert PREV == "incident_bot.alias.champion.previous"
    assert MOVED == "incident_bot.alias.champion.moved"


def test_history_wins_over_the_validated_tag() -> None:
    versions = [with_tags(7, {PREV: "5"}), version(6, validated="true"), version(5)]

    choice = choose_rollback(versions[0], versions, "champion", "validated")

    assert choice is not None
    assert choice.target.version == "5"
    assert "pointed to v5 before v7" in choice.reason


def test_without_history_the_newest_older_validated_version_is_chosen() -> None:
    versions = [
        version(9, validated="true"),  # newer than current: never a rollback target
        version(8),
        version(7, validated="no"),
        version(6, "FAILED_REGISTRATION", validated="true"),
        version(5, validated="True"),
        version(4, validated="true"),
    ]

    choice = choose_rollback(versions[1], versions, "champion", "validated")

    assert choice is not None
    assert choice.target.version == "5"
    assert choice.reason == "newest version older than v8 tagged validated=true"


@pytest.mark.parametrize(
    ("history", "note"),
    [
        ({PREV: "3"}, "v3 named by the alias history no longer exists"),
        ({PREV: "6"}, "v6 named by the alias history is PENDING_REGISTRATION"),
        (
            {PREV: "9", MOVED: '{"action":"rollback","from":"9","by":"bot","at":"t"}'},
            "v7 was reached by rolling back from v9",
        ),
    ],
)
def test_unusable_history_falls_back_and_says_why(history: dict[str, str], note: str) -> None:
    versions = [
        version(9),
        with_tags(7, history),
        version(6, "PENDING_REGISTRATION"),
        version(5, validated="yes"),
    ]

    choice = choose_rollback(versions[1], versions, "champion", "validated")

    assert choice is not None
    assert choice.target.version == "5"
    assert choice.reason.startswith(note)


def test_no_history_and_no_validated_version_means_no_choice() -> None:
    versions = [version(3), version(2), version(1, validated="false")]
    assert choose_rollback(versions[0], versions, "champion", "validated") is None


def test_history_of_another_alias_is_ignored() -> None:
    versions = [with_tags(3, {previous_tag("challenger"): "2"}), version(2), version(1)]
    assert choose_rollback(versions[0], versions, "champion", "validated") is None


def test_validated_values() -> None:
    for value in ("true", "TRUE", "yes", "1", "ok", "passed", " true "):
        assert is_validated(version(1, validated=value), "validated")
    for value in ("false", "0", "", "no", "maybe"):
        assert not is_validated(version(1, validated=value), "validated")
    assert not is_validated(version(1), "validated")


def test_alias_move_round_trip_and_step_matching() -> None:
    ctx = ActionContext(incident_ref="INC-1", run_ref="run-9", step_id="rollback", actor="ana")
    move = AliasMove.now("rollback", "7", ctx)

    parsed = AliasMove.from_tag(move.to_tag())

    assert parsed == move
    assert '"from":"7"' in move.to_tag()
    assert parsed.made_by(ctx)
    assert not parsed.made_by(ActionContext(run_ref="run-9", step_id="other"))
    assert not parsed.made_by(ActionContext(run_ref="run-10", step_id="rollback"))


def test_a_move_without_a_run_never_matches() -> None:
    move = AliasMove.now("rollback", "7", ActionContext(actor="cli"))
    assert not move.made_by(ActionContext(actor="cli"))


@pytest.mark.parametrize("value", [None, "", "7", "not json", "[]", '{"from": "7"}'])
def test_foreign_or_broken_records_are_ignored(value: str | None) -> None:
    assert AliasMove.from_tag(value) is None
