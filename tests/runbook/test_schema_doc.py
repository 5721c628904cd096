"""docs/runbook.schema.json is generated from the models and kept up to date."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.config import DEFAULT_RUNBOOKS_DIR
from bot.runbook.models import json_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "runbook.schema.json"


def test_the_schema_file_is_up_to_date() -> None:
    on_disk = json.loads(SCHEMA_FILE.read_text())
    assert on_disk == json_schema(), (
        "docs/runbook.schema.json is stale: run `incident-bot runbook schema > docs/runbook.schema.json`"
    )


def test_the_schema_is_valid_and_accepts_the_shipped_runbooks() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    files = sorted(DEFAULT_RUNBOOKS_DIR.glob("*.yaml"))
    assert len(files) >= 5
    for path in files:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


@pytest.mark.parametrize(
    "document",
    [
        {"name": "x", "title": "X", "owner": "me", "steps": []},
        {"name": "X!", "title": "X", "owner": "me", "steps": [{"id": "a", "action": "wait"}]},
        {
            "name": "x",
            "title": "X",
            "owner": "me",
            "steps": [{"id": "a", "action": "wait", "timeout": "soon"}],
        },
        {"name": "x", "title": "X", "owner": "me", "steps": [{"id": "a", "action": "wait", "colour": 1}]},
        {
            "name": "x",
            "title": "X",
            "owner": "me",
            "steps": [{"id": "a", "action": "wait"}],
            "approval": {"required": "three"},
        },
    ],
)
def test_the_schema_rejects_what_the_loader_rejects(document: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, json_schema())
