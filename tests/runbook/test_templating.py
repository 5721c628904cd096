"""Templates: sandboxed, strict (a missing variable is an error naming file, step, field), typed."""

from __future__ import annotations

from typing import Any

import pytest

from bot.errors import InputError, TemplateRenderError
from bot.runbook.inputs import resolve, shown
from bot.runbook.models import InputType, RunbookSpec
from bot.runbook.templating import Templates, Where

CONTEXT: dict[str, Any] = {
    "inputs": {"model": "fraud", "replicas": 3, "flag": True},
    "incident": {"ref": "INC-4", "labels": {"model": "fraud"}, "models": ["fraud", "churn"]},
    "steps": {"rollback": {"before": {"version": "7"}, "after": {"version": "6"}}},
}
WHERE = Where("runbooks/x.yaml", "deploy", "with")


def render(value: Any) -> Any:
    return Templates().render(value, CONTEXT, WHERE)


def test_a_single_expression_keeps_its_type() -> None:
    assert render("{{ inputs.replicas }}") == 3
    assert render("{{ inputs.flag }}") is True
    assert render(" {{ incident.models }} ") == ["fraud", "churn"]
    assert render("{{ inputs.replicas * 2 }}") == 6


def test_mixed_text_renders_to_a_string() -> None:
    assert render("v{{ steps.rollback.after.version }} of {{ inputs.model }}") == "v6 of fraud"
    assert render("{{ inputs.replicas }}{{ inputs.replicas }}") == "33"
    assert render("{% if inputs.flag %}on{% else %}off{% endif %}") == "on"


def test_nested_values_and_plain_values() -> None:
    rendered = render({"a": ["{{ inputs.model }}", 1, None], "b": {"c": "plain"}, "d": 2.5})
    assert rendered == {"a": ["fraud", 1, None], "b": {"c": "plain"}, "d": 2.5}


@pytest.mark.parametrize(
    ("template", "field", "message"),
    [
        ("{{ inputs.modle }}", "with", "'dict object' has no attribute 'modle'"),
        ("model {{ inputs.modle }}!", "with", "'dict object' has no attribute 'modle'"),
        ({"alias": "{{ secrets }}"}, "with.alias", "'secrets' is undefined"),
        (["ok", "{{ incident.labels.team }}"], "with.1", "'dict object' has no attribute 'team'"),
        ("{{ incident.models[5] }}", "with", "list object has no element 5"),
    ],
)
def test_a_missing_variable_is_an_error_naming_file_step_and_field(
    template: Any, field: str, message: str
) -> None:
    with pytest.raises(TemplateRenderError) as info:
        render(template)
    assert str(info.value).startswith(f"runbook runbooks/x.yaml, step deploy, field {field}: {message}")
    assert info.value.context == {"file": "runbooks/x.yaml", "step": "deploy", "field": field}


def test_an_empty_value_with_default_is_not_an_error() -> None:
    assert render("{{ incident.labels.team | default('ml') }}") == "ml"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ inputs.__class__ }}",
        "{{ incident.labels.update({'x': 1}) }}",
        "{{ 1/0 }}",
        "{{ inputs.model + 1 }}",
    ],
)
def test_the_sandbox_refuses_unsafe_and_broken_expressions(template: str) -> None:
    with pytest.raises(TemplateRenderError, match=r"runbook runbooks/x\.yaml, step deploy, field with: "):
        render(template)
    assert CONTEXT["incident"]["labels"] == {"model": "fraud"}


def test_a_syntax_error_is_reported_where_it_is() -> None:
    with pytest.raises(TemplateRenderError, match="field with: template syntax error"):
        render("{{ inputs.model ")


SPEC = RunbookSpec.model_validate(
    {
        "name": "t",
        "title": "T",
        "owner": "me",
        "inputs": {
            "model": {"from": ["incident.labels.model", "incident.models.0"]},
            "alias": {"default": "champion", "choices": ["champion", "challenger"]},
            "namespace": {"default": "{{ incident.labels.namespace | default('prod') }}"},
            "replicas": {"type": "integer", "required": False},
            "dry": {"type": "boolean", "default": False},
            "token": {"secret": True, "required": False},
        },
        "steps": [{"id": "a", "action": "wait", "with": {"duration": 1}}],
    }
)


def inputs_for(given: dict[str, Any], incident: dict[str, Any] | None = None) -> dict[str, Any]:
    incident = incident or {"labels": {}, "models": []}
    return resolve(SPEC, given, incident, Templates(), file="t.yaml")


def test_inputs_come_from_the_requester_then_the_incident_then_defaults() -> None:
    incident = {"labels": {"model": "fraud"}, "models": ["churn"]}
    assert inputs_for({}, incident) == {
        "model": "fraud",
        "alias": "champion",
        "namespace": "prod",
        "replicas": None,
        "dry": False,
        "token": None,
    }
    assert inputs_for({}, {"labels": {}, "models": ["churn"]})["model"] == "churn"
    given = {"model": "ads", "replicas": "4", "dry": "true", "alias": "challenger"}
    assert inputs_for(given, incident) == {
        "model": "ads",
        "alias": "challenger",
        "namespace": "prod",
        "replicas": 4,
        "dry": True,
        "token": None,
    }


def test_input_errors_say_which_input() -> None:
    with pytest.raises(InputError, match="input model is required and has no value") as info:
        inputs_for({})
    assert (
        info.value.hint == "give it (--input model=...); looked in incident.labels.model, incident.models.0"
    )
    with pytest.raises(InputError, match="input replicas must be a integer, got 'many'"):
        inputs_for({"model": "m", "replicas": "many"})
    with pytest.raises(InputError, match="input alias must be one of champion, challenger"):
        inputs_for({"model": "m", "alias": "prod"})
    with pytest.raises(InputError, match="runbook t has no input colour"):
        inputs_for({"model": "m", "colour": "red"})


def test_secret_inputs_are_masked_when_shown() -> None:
    values = inputs_for({"model": "m", "token": "s3cr3t-value"})
    assert values["token"] == "s3cr3t-value"
    assert shown(SPEC, values)["token"] == "***"
    with pytest.raises(InputError) as info:
        resolve(
            SPEC.model_copy(
                update={
                    "inputs": {"token": SPEC.inputs["token"].model_copy(update={"type": InputType.INTEGER})}
                }
            ),
            {"token": "s3cr3t-value"},
            {},
            Templates(),
            file="t.yaml",
        )
    assert "s3cr3t" not in str(info.value)
