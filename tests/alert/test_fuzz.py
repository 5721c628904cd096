"""Fuzz the webhook endpoints: whatever a sender posts, the answer is 202, 400, 413 or 422 —
never a 5xx — and whatever was acknowledged is processed without being set aside."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.alert.conftest import Bot, fixture
from tests.alert.test_webhook import FIXTURE_OF

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ALLOWED = {202, 400, 413, 422}

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(
        [
            "firing",
            "resolved",
            "trigger",
            "resolve",
            "acknowledge",
            "Recovered",
            "Triggered",
            "critical",
            "0001-01-01T00:00:00Z",
            "2026-11-20T03:12:05Z",
            "1763632800000",
            "\x00",
            "\ud800",
            "0f3a38a89d70e03a",
        ]
    )
    | st.text(max_size=10)
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=6)
            | st.sampled_from(
                ["alerts", "labels", "status", "payload", "severity", "dedup_key", "expires_in_s"]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, (*prefix, i))
    return found


def _replace(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    result = copy.deepcopy(document)
    node = result
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return result


async def _check(bot: Bot, source: str, body: bytes) -> None:
    response = await bot.post(source, body)
    assert response.status_code in ALLOWED, (response.status_code, response.text, body[:300])
    assert response.headers["content-type"] == "application/json"
    if response.status_code == 202:
        await bot.settled()
        failed = [row for row in await bot.inbox() if row.failed]
        assert not failed, failed[0].error


@FUZZ
@given(body=st.binary(max_size=300))
async def test_arbitrary_bytes(bot: Bot, body: bytes) -> None:
    for source in ("alertmanager", "generic"):
        await _check(bot, source, body)


@FUZZ
@given(value=json_values)
async def test_arbitrary_json(bot: Bot, value: Any) -> None:
    body = json.dumps(value, allow_nan=True).encode()
    for source in FIXTURE_OF:
        await _check(bot, source, body)


@pytest.mark.parametrize("source", list(FIXTURE_OF))
@FUZZ
@given(data=st.data())
async def test_mutated_real_payloads(bot: Bot, source: str, data: st.DataObject) -> None:
    document = fixture(FIXTURE_OF[source])
    path = data.draw(st.sampled_from(_paths(document)), label="path")
    new = data.draw(json_values, label="value")
    mutated = _replace(document, path, new)
    await _check(bot, source, json.dumps(mutated, allow_nan=True).encode())


@pytest.mark.parametrize("source", list(FIXTURE_OF))
@FUZZ
@given(data=st.data())
async def test_truncated_and_deeply_nested_payloads(bot: Bot, source: str, data: st.DataObject) -> None:
    text = json.dumps(fixture(FIXTURE_OF[source]))
    cut = data.draw(st.integers(min_value=0, max_value=len(text)), label="cut")
    await _check(bot, source, text[:cut].encode())
    depth = data.draw(st.integers(min_value=1, max_value=3000), label="depth")
    document = fixture(FIXTURE_OF[source])
    path = data.draw(st.sampled_from(_paths(document)), label="path")
    deep = json.loads("[" * min(depth, 900) + "]" * min(depth, 900))
    await _check(bot, source, json.dumps(_replace(document, path, deep)).encode())
    await _check(bot, source, ("[" * depth + "]" * depth).encode())
