"""Any JSON value, and any mutation of a real payload, gives a ParsedBatch or an InputError.

Never another exception type: a webhook endpoint answers 422 to a bad body, never 500.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import InputError
from integrations.sources.generic import GenericMapping
from integrations.sources.model import ParsedBatch
from integrations.sources.registry import accept_webhook, builtin_mapping, decode_json, parse_webhook
from tests.integrations.sources.conftest import NOW, load

#: FUZZ_EXAMPLES=5000 for a longer hunt.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TIMES = [
    "2026-11-20T03:12:05.123456789Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-14:00",
    "1763632800000",
    "1e400",
    "P1",
    "Recovered",
    "firing",
    "resolved",
    "trigger",
    "resolve",
    "acknowledge",
    "critical",
    "0f3a38a89d70e03a",
    "",
]
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**4000, -(10**400)])
    | st.floats()
    | st.sampled_from(TIMES)
    | st.text(st.characters(exclude_categories=()), max_size=12)
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=8)
            | st.sampled_from(
                [
                    "alerts",
                    "labels",
                    "status",
                    "payload",
                    "severity",
                    "event_action",
                    "dedup_key",
                    "alert_id",
                    "alert_transition",
                    "checkResults",
                    "outcome",
                    "expires_in_s",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)

CONFIGS: list[tuple[str, GenericMapping | None, str]] = [
    ("alertmanager", None, "alertmanager_v4_firing"),
    ("alertmanager", None, "alertmanager_v4_resolved"),
    ("grafana", None, "grafana_webhook_firing"),
    ("pagerduty", None, "pagerduty_events_v2_trigger"),
    ("pagerduty", None, "pagerduty_events_v2_resolve"),
    ("datadog", None, "datadog_webhook_triggered"),
    ("datadog", None, "datadog_webhook_recovered"),
    ("generic", builtin_mapping("ml-monitor-contract"), "ml_monitor_generic_firing"),
    ("generic", builtin_mapping("soda-cloud"), "soda_check_evaluation_fail"),
]
IDS = [f"{kind}-{fixture}" for kind, _, fixture in CONFIGS]


def outcome(kind: Any, body: Any, mapping: GenericMapping | None) -> ParsedBatch | InputError:
    """What ``parse_webhook`` makes of ``body``, after checking that ``accept_webhook`` (the
    webhook request path's cheaper check) agrees: the same refusal, or the same alert count
    and response fields. Were they to differ, a body acknowledged with 202 would fail later in
    the processor, or a valid one would be refused."""
    refusal: InputError | None = None
    try:
        batch = parse_webhook(kind, body, source_name="fuzz", now=NOW, mapping=mapping)
    except InputError as exc:
        refusal = exc
    if refusal is not None:
        with pytest.raises(InputError) as refused:
            accept_webhook(kind, body, source_name="fuzz", now=NOW, mapping=mapping)
        assert (refused.value.message, refused.value.context) == (refusal.message, refusal.context)
        return refusal
    accepted = accept_webhook(kind, body, source_name="fuzz", now=NOW, mapping=mapping)
    assert accepted.alerts == len(batch.alerts)
    # PagerDuty generates a dedup_key when a trigger has none: a new one at each call.
    assert accepted.response_extras.keys() == batch.response_extras.keys()
    return batch


def parses_or_refuses(kind: Any, body: Any, mapping: GenericMapping | None) -> None:
    result = outcome(kind, body, mapping)
    if isinstance(result, InputError):
        assert result.message
        assert result.context["field"]
        return
    assert isinstance(result, ParsedBatch)
    for alert in result.alerts:
        assert alert.starts_at is None or alert.starts_at.tzinfo is not None


def _node_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _node_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _node_paths(child, (*prefix, i))
    return found


def _mutate(doc: Any, data: st.DataObject) -> Any:
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        path = data.draw(st.sampled_from(_node_paths(doc)), label="path")
        action = data.draw(st.sampled_from(["replace", "delete", "insert"]), label="action")
        if not path:
            doc = data.draw(json_values) if action == "replace" else doc
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if action == "delete":
            del parent[last]
        elif action == "replace":
            parent[last] = data.draw(json_values, label="value")
        elif isinstance(parent, dict):
            parent[data.draw(st.text(max_size=6), label="key")] = data.draw(json_values)
        else:
            parent.insert(last, data.draw(json_values, label="value"))
    return doc


@pytest.mark.parametrize(("kind", "mapping", "fixture"), CONFIGS, ids=IDS)
@FUZZ
@given(body=json_values)
def test_arbitrary_json(kind: str, mapping: GenericMapping | None, fixture: str, body: Any) -> None:
    parses_or_refuses(kind, body, mapping)


@pytest.mark.parametrize(("kind", "mapping", "fixture"), CONFIGS, ids=IDS)
@FUZZ
@given(data=st.data())
def test_mutated_fixtures(
    kind: str, mapping: GenericMapping | None, fixture: str, data: st.DataObject
) -> None:
    body = _mutate(copy.deepcopy(load(fixture)), data)
    parses_or_refuses(kind, body, mapping)


@FUZZ
@given(raw=st.binary(max_size=64) | json_values.map(lambda v: repr(v).encode()))
def test_arbitrary_bytes(raw: bytes) -> None:
    try:
        body = decode_json(raw)
    except InputError:
        return
    parses_or_refuses("alertmanager", body, None)


EDGE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    10**4000,
    -(10**400),
    1e308,
    float("nan"),
    float("inf"),
    "",
    " ",
    "\ud800",
    "x" * 300,
    "²",
    "١٢",
    "9" * 5000,
    "-0",
    "1e3",
    [],
    [1],
    {},
    {"a": {"b": [None]}},
    *TIMES,
]


@pytest.mark.parametrize(("kind", "mapping", "fixture"), CONFIGS, ids=IDS)
def test_every_field_replaced_by_every_edge_value_or_deleted(
    kind: str,
    mapping: GenericMapping | None,
    fixture: str,
) -> None:
    """Systematic, where the random search may miss a field: each node, each edge value."""
    original = load(fixture)
    outcomes = {"parsed": 0, "refused": 0}
    for path in _node_paths(original)[1:]:
        for replacement in [*EDGE_VALUES, "__delete__"]:
            body = copy.deepcopy(original)
            parent = body
            for step in path[:-1]:
                parent = parent[step]
            if replacement == "__delete__":
                del parent[path[-1]]
            else:
                parent[path[-1]] = replacement
            refused = isinstance(outcome(kind, body, mapping), InputError)
            outcomes["refused" if refused else "parsed"] += 1
    assert outcomes["parsed"] > 0
    assert outcomes["refused"] > 0
