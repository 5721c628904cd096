from __future__ import annotations

import pytest

from integrations.sources.paths import MISSING, compile_path

DOC = {
    "checkResults": [{"datasets": [{"name": "orders", "datasource": {"name": "pg"}}]}],
    "a.b": {"c": 1},
    "with-dash": True,
    "list": [10, 20, 30],
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.checkResults[0].datasets[0].name", "orders"),
        ("checkResults[0].datasets[0].datasource.name", "pg"),
        ("@.checkResults[0].datasets[0].name", "orders"),
        ('$["a.b"].c', 1),
        ("['a.b'].c", 1),
        ("with-dash", True),
        ("list[-1]", 30),
        ("$", DOC),
        ("@", DOC),
    ],
)
def test_resolves(path: str, expected: object) -> None:
    assert compile_path(path).resolve(DOC, DOC) == expected


@pytest.mark.parametrize(
    "path",
    [
        "missing",
        "list[3]",
        "list[-4]",
        "list.name",
        "checkResults[0].datasets.name",
        "with-dash.deeper",
        "$.checkResults[0].datasets[0].name.x",
    ],
)
def test_paths_that_lead_nowhere_are_missing(path: str) -> None:
    assert compile_path(path).resolve(DOC, DOC) is MISSING


def test_relative_paths_read_the_current_alert_and_dollar_the_root() -> None:
    item = {"name": "item"}
    root = {"name": "root", "items": [item]}
    assert compile_path("name").resolve(root, item) == "item"
    assert compile_path("$.name").resolve(root, item) == "root"


@pytest.mark.parametrize("path", ["", "a..b", "a[", "a[x]", "$a", "a b", "a.[0]", "a[0]x"])
def test_syntax_errors(path: str) -> None:
    with pytest.raises(ValueError, match=r"empty path|cannot read"):
        compile_path(path)
