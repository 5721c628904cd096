"""Runbook files: schema and semantic checks, each error naming the file, the step and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.errors import NotFoundError, RunbookValidationError
from bot.runbook.loader import Catalog, check_file, load_file
from tests.runbook.actions import Store, make_registry

GOOD = """
name: {name}
title: Set a key
owner: ml-platform
when:
  - labels: {{alertname: "Drift*"}}
    severity: [SEV1, SEV2]
inputs:
  key:
    from: [incident.labels.key]
    default: k1
  value:
    type: integer
    default: 3
steps:
  - id: set
    action: test.set
    with: {{key: "{{{{ inputs.key }}}}", value: "{{{{ inputs.value }}}}"}}
    timeout: 5s
    retries: {{max: 1, backoff: 100ms}}
  - id: check
    action: test.read
    with: {{key: "{{{{ steps.set.target }}}}"}}
"""


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def errors_of(path: Path) -> list[str]:
    return [str(e) for e in check_file(path, make_registry(Store())).errors]


def test_a_valid_file_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "set-key", GOOD.format(name="set-key"))
    runbook = load_file(path, make_registry(Store()))
    assert runbook.name == "set-key"
    assert [s.id for s in runbook.spec.steps] == ["set", "check"]
    assert runbook.spec.steps[0].timeout == 5.0
    assert len(runbook.digest) == 64


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad", "name: bad\ntitle: [unclosed\nowner: x\n")
    [error] = errors_of(path)
    assert error.startswith(f"file {path}: invalid YAML at line 3")


def test_schema_errors_name_file_step_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "broken",
        """
        name: broken
        title: Broken
        steps:
          - id: first
            action: test.set
            with: {key: a}
            timeout: soon
            on_failure: explode
          - action: test.set
            colour: red
        """,
    )
    errors = errors_of(path)
    assert f"file {path}, field owner: required field is missing" in errors
    assert any(e.startswith(f"file {path}, step first, field timeout: ") and "'soon'" in e for e in errors)
    assert any(e.startswith(f"file {path}, step first, field on_failure: ") for e in errors)
    assert f"file {path}, step #2, field id: required field is missing" in errors
    assert any(
        e.startswith(f"file {path}, step #2, field colour: unknown field (known fields: id,") for e in errors
    )


def test_unknown_actions_and_parameters_are_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "actions",
        """
        name: actions
        title: Actions
        owner: me
        steps:
          - id: one
            action: registry.rollback_everything
          - id: two
            action: test.set
            with: {value: 1, colour: red}
          - id: three
            action: test.set
            with: {key: a}
            undo: {action: test.nope}
        """,
    )
    errors = errors_of(path)
    assert any(
        e.startswith(f"file {path}, step one, field action: unknown action 'registry.rollback_everything'")
        and "registered actions: metrics.wait_until, test.read, test.set" in e
        for e in errors
    )
    assert any(
        e.startswith(f"file {path}, step two, field with.colour: unknown parameter of test.set")
        for e in errors
    )
    assert f"file {path}, step two, field with.key: test.set needs parameter 'key'" in errors
    assert any(
        e.startswith(f"file {path}, step three, field undo.action: unknown action 'test.nope'")
        for e in errors
    )


def test_template_problems_are_found_before_running(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "templates",
        """
        name: templates
        title: Templates
        owner: me
        inputs:
          key: {default: a}
        steps:
          - id: one
            action: test.set
            with: {key: "{{ inputs.kye }}", value: "{{ steps.two.after }}"}
          - id: two
            action: test.set
            with: {key: "{{ inputs.key ", value: "{{ secrets.token }}"}
          - id: three
            action: test.set
            with: {key: "{{ steps.nope.target }}", value: "{{ step.before }}"}
            undo: {action: test.set, with: {key: "{{ inputs.key }}", value: "{{ step.before.value }}"}}
        """,
    )
    errors = errors_of(path)
    assert any(
        e.startswith(f"file {path}, step one, field with.key: input 'kye' is not declared") for e in errors
    )
    assert any(
        e.startswith(f"file {path}, step one, field with.value: step 'two' does not come before this one")
        for e in errors
    )
    assert any(e.startswith(f"file {path}, step two, field with.key: template syntax error") for e in errors)
    assert any(
        e.startswith(f"file {path}, step two, field with.value: unknown variable 'secrets'") for e in errors
    )
    assert any(
        e.startswith(f"file {path}, step three, field with.key: step 'nope' does not exist") for e in errors
    )
    # ``step`` exists only in an undo; the undo's own template is fine.
    assert any(
        e.startswith(f"file {path}, step three, field with.value: unknown variable 'step'") for e in errors
    )
    assert not any("undo.with" in e for e in errors)


def test_file_level_mistakes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "other-name",
        """
        name: mismatch
        title: T
        owner: me
        inputs:
          count: {type: integer, default: many}
          mode: {choices: [a, b], default: a}
          Bad-Name: {}
        approval: {approvers: ["role:"], expires_after: 0}
        steps:
          - {id: same, action: wait, with: {duration: 1}}
          - {id: same, action: wait, with: {duration: 1}}
        """,
    )
    errors = errors_of(path)
    assert any("field inputs: input name 'Bad-Name'" in e for e in errors)
    assert any("field approval.approvers: 'role:' is not a principal" in e for e in errors)
    assert any("field approval.expires_after: a duration must be more than 0" in e for e in errors)
    fixed = (
        path.read_text()
        .replace("  Bad-Name: {}\n", "")
        .replace('approval: {approvers: ["role:"], expires_after: 0}\n', "")
    )
    path.write_text(fixed)
    errors = errors_of(path)
    assert f"file {path}, field name: name 'mismatch' differs from the file name 'other-name.yaml'" in [
        e.split(" (")[0] for e in errors
    ]
    assert any(
        e.startswith(f"file {path}, field inputs.count.default: input count must be a integer")
        for e in errors
    )
    assert f"file {path}, step same, field id: step id is used twice" in errors


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "list", "- one\n- two\n")
    assert errors_of(path) == [f"file {path}: a runbook file holds a mapping (name, title, steps...)"]


def test_catalog_lists_runbooks_and_refuses_duplicates(tmp_path: Path) -> None:
    write(tmp_path, "set-key", GOOD.format(name="set-key"))
    write(tmp_path, "also", GOOD.format(name="also"))
    write(tmp_path, "broken", "name: broken\n")
    catalog = Catalog(tmp_path, make_registry(Store()))
    assert [r.name for r in catalog.runbooks()] == ["also", "set-key"]
    assert catalog.get("set-key").spec.title == "Set a key"
    with pytest.raises(RunbookValidationError, match=r"broken\.yaml, field title: required field is missing"):
        catalog.get("broken")
    with pytest.raises(NotFoundError, match="runbook 'nope' does not exist") as info:
        catalog.get("nope")
    assert info.value.hint == "runbooks: also, set-key"
    (tmp_path / "copy.yml").write_text(
        (tmp_path / "also.yaml").read_text().replace("name: also", "name: copy")
    )
    assert {r.name for r in catalog.runbooks()} == {"also", "copy", "set-key"}


def test_a_missing_folder_has_no_runbooks(tmp_path: Path) -> None:
    assert Catalog(tmp_path / "nope", make_registry(Store())).runbooks() == []


def test_without_a_registry_only_the_file_is_checked(tmp_path: Path) -> None:
    path = write(tmp_path, "x", "name: x\ntitle: X\nowner: me\nsteps: [{id: a, action: not.registered}]\n")
    assert check_file(path, None).ok
    assert not check_file(path, make_registry(Store())).ok
