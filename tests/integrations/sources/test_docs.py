"""docs/alert-sources.md shows config that must keep working: check it against the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from integrations.sources.generic import GenericMapping
from integrations.sources.registry import SourceConfig

DOC = Path("docs/alert-sources.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def test_the_mapping_reference_is_a_valid_mapping() -> None:
    (reference,) = [b for b in _blocks("yaml") if b.startswith("about:")]
    mapping = GenericMapping.model_validate(yaml.safe_load(reference))
    assert mapping.alerts == "$.checkResults"
    assert mapping.annotations.object == ["annotations", "observed"]


def test_the_sources_example_is_valid_config() -> None:
    (example,) = [b for b in _blocks("yaml") if b.startswith("sources:")]
    for name, data in yaml.safe_load(example)["sources"].items():
        source = SourceConfig.model_validate(data)
        assert source.resolved_mapping() is not None or source.kind != "generic", name


def test_the_datadog_template_in_the_docs_is_the_shipped_one() -> None:
    shipped = json.loads(Path("integrations/sources/templates/datadog.json").read_text())
    documented = [json.loads(b) for b in _blocks("json") if '"$ALERT_ID"' in b]
    assert documented == [shipped]
