from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.errors import ConfigError, InputError
from integrations.sources.generic import GenericMapping
from integrations.sources.registry import (
    PARSERS,
    SourceConfig,
    builtin_mapping,
    decode_json,
    load_mapping,
    parse_webhook,
)
from tests.integrations.sources.conftest import NOW, fixture_bytes, load

CASES = [
    ("alertmanager", "alertmanager_v4_firing", 2),
    ("grafana", "grafana_webhook_firing", 1),
    ("pagerduty", "pagerduty_events_v2_trigger", 1),
    ("datadog", "datadog_webhook_triggered", 1),
]


@pytest.mark.parametrize(("kind", "fixture", "count"), CASES)
def test_every_kind_has_a_parser_with_one_signature(kind: Any, fixture: str, count: int) -> None:
    batch = parse_webhook(kind, decode_json(fixture_bytes(fixture)), source_name=f"my-{kind}", now=NOW)
    assert batch.kind == kind
    assert len(batch.alerts) == count
    assert {a.source for a in batch.alerts} == {f"my-{kind}"}


def test_generic_needs_a_mapping_and_others_refuse_one() -> None:
    body = load("ml_monitor_generic_firing")
    mapping = builtin_mapping("ml-monitor-contract")
    batch = parse_webhook("generic", body, source_name="fs", now=NOW, mapping=mapping)
    assert batch.alerts[0].title == "Feature table user_features stale for 3h"
    with pytest.raises(ConfigError, match="is generic but has no mapping"):
        parse_webhook("generic", body, source_name="fs", now=NOW)
    with pytest.raises(ConfigError, match="a datadog source takes no mapping"):
        PARSERS["datadog"](body, source_name="dd", now=NOW, mapping=mapping)
    with pytest.raises(ConfigError, match="unknown source kind 'nagios'"):
        parse_webhook("nagios", body, source_name="x", now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"alerts": [', "body is not valid JSON: Expecting value at line 1 column 13"),
        (b"\xff\xfe\xfa", "body is not"),
        (b"[" * 100_000 + b"]" * 100_000, "body is not valid JSON"),
        (b"1" * 5000, "body is not valid JSON: a number is too long"),
        (b"", "body is not valid JSON"),
    ],
)
def test_decode_json_refuses_what_is_not_json(raw: bytes, message: str) -> None:
    with pytest.raises(InputError) as info:
        decode_json(raw)
    assert info.value.message.startswith(message), info.value.message


def test_load_mapping_names_file_and_field(tmp_path: Path) -> None:
    good = tmp_path / "drift.yaml"
    good.write_text("about: drift\nstatus: {path: state, map: {ok: resolved}}\n")
    assert load_mapping(good).status.map == {"ok": "resolved"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("status: {path: state, map: {ok: fine}}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: status\.map\.ok: Input should be"):
        load_mapping(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("status: [\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_mapping(broken)
    with pytest.raises(ConfigError, match="cannot read mapping file"):
        load_mapping(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="no built-in mapping 'absent'"):
        builtin_mapping("absent")


def test_source_config(tmp_path: Path) -> None:
    auth = {"type": "bearer", "token": {"env": "AM_TOKEN"}}
    am = SourceConfig.model_validate({"kind": "alertmanager", "auth": auth})
    assert am.resolved_mapping() is None
    builtin = SourceConfig.model_validate({"kind": "generic", "auth": auth, "mapping": "soda-cloud"})
    assert builtin.resolved_mapping() == builtin_mapping("soda-cloud")
    (tmp_path / "m.yaml").write_text("title: name\n")
    from_file = SourceConfig.model_validate({"kind": "generic", "auth": auth, "mapping": "m.yaml"})
    mapping = from_file.resolved_mapping(base_dir=tmp_path)
    assert isinstance(mapping, GenericMapping)
    assert mapping.title == ["name"]
    inline = SourceConfig.model_validate({"kind": "generic", "auth": auth, "mapping": {"title": "name"}})
    assert inline.resolved_mapping() == mapping


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            {"kind": "generic", "auth": {"type": "bearer", "token": {"env": "T"}}},
            "a generic source needs a mapping",
        ),
        (
            {"kind": "grafana", "auth": {"type": "bearer", "token": {"env": "T"}}, "mapping": "x"},
            "a grafana source takes no mapping",
        ),
        ({"kind": "grafana", "auth": {"type": "none"}}, "allow_unauthenticated: true"),
        ({"kind": "grafana"}, "auth\n  Field required"),
        ({"kind": "grafana", "auth": {"type": "oauth"}}, "does not match any of the expected tags"),
    ],
)
def test_source_config_refuses(data: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        SourceConfig.model_validate(data)
