"""The wheel and the sdist carry every file the program reads at run time.

The rule that cannot be forgotten when a data folder is added: every file git holds under
``bot/`` and ``integrations/`` is in the wheel at the same path, the shipped content folders
``runbooks/``, ``templates/`` and ``examples/`` are in it under ``bot/defaults/``, and nothing else is.
"""

from __future__ import annotations

import tarfile
from pathlib import PurePosixPath

from bot import migrate
from bot.config import PACKAGE_DIR
from tests.packaging.conftest import Dists, tree_files

CONTENT = {
    "runbooks": "bot/defaults/runbooks",
    "templates": "bot/defaults/templates",
    "examples": "bot/defaults/examples",
}
#: Files the code opens at run time (beside every module), named to say what is at stake.
RUNTIME_DATA = [
    "bot/migrations/env.py",
    "bot/migrations/script.py.mako",
    "bot/defaults/runbooks/rollback-model.yaml",
    "bot/defaults/templates/postmortem.md.j2",
    "integrations/sources/mappings/ml-monitor-contract.yaml",
    "integrations/sources/templates/datadog.json",
    "bot/py.typed",
    "integrations/py.typed",
]


def expected_in_wheel() -> set[str]:
    expected = set()
    for name in tree_files():
        top, _, rest = name.partition("/")
        if top in ("bot", "integrations"):
            expected.add(name)
        elif top in CONTENT and rest:
            expected.add(f"{CONTENT[top]}/{rest}")
    return expected


def test_wheel_holds_exactly_the_package_files(dists: Dists) -> None:
    names = dists.wheel_names()
    expected = expected_in_wheel()
    assert sorted(expected - names) == [], "missing from the wheel"
    assert sorted(names - expected) == [], "in the wheel but not in git"
    for path in RUNTIME_DATA:
        assert path in names
    versions = sorted(n for n in names if n.startswith("bot/migrations/versions/"))
    assert len(versions) == len(list((migrate.MIGRATIONS_DIR / "versions").glob("*.py")))
    assert not any("__pycache__" in n for n in names)


def test_sdist_holds_what_the_wheel_and_the_docs_are_built_from(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as archive:
        names = {
            str(PurePosixPath(*PurePosixPath(m.name).parts[1:])) for m in archive.getmembers() if m.isfile()
        }
    sources = {
        n
        for n in tree_files()
        if n.split("/")[0] in ("bot", "integrations", "runbooks", "templates", "docs", "examples")
    }
    required = sources | {"pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "constraints.txt"}
    assert sorted(required - names) == [], "missing from the sdist"
    assert not any(n.startswith("tests/") for n in names)


def test_source_checkout_and_installed_layout_agree() -> None:
    """The code finds its data the same way in a checkout (these tests) and installed."""
    assert migrate.MIGRATIONS_DIR == PACKAGE_DIR / "migrations"
