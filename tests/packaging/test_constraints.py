"""The pin files agree with what they pin: every requirement has exactly one pin, inside its
range. A range changed in pyproject.toml (or a server's requirements) without running
``.ci/refresh-constraints`` fails here, not in a later install."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.packaging.conftest import CONSTRAINTS, ROOT
from tests.system.envs import SERVER_ENVS
from tests.system.servers import CONSTRAINTS as SERVER_CONSTRAINTS


def pins(path: Path) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{path}: {line!r} is not an exact pin"
            key = canonicalize_name(name)
            assert key not in found, f"{path}: {name} pinned twice"
            found[key] = Version(version)
    return found


def check(requirements: list[str], pinned: dict[str, Version], where: Path) -> None:
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{where}: {requirement.name} is not pinned; run .ci/refresh-constraints"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{where}: {requirement.name}=={pinned[name]} is outside {requirement.specifier}; "
            "run .ci/refresh-constraints"
        )


def test_constraints_pin_every_dependency_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requirements = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["test"],
        *project["build-system"]["requires"],
    ]
    check(requirements, pins(CONSTRAINTS), CONSTRAINTS)


@pytest.mark.parametrize("name", sorted(SERVER_ENVS))
def test_each_server_environment_is_pinned(name: str) -> None:
    path = SERVER_CONSTRAINTS / f"{name}.txt"
    assert path.is_file(), f"no {path}; run .ci/refresh-constraints {name}"
    check(list(SERVER_ENVS[name]), pins(path), path)


def test_the_demo_environment_is_pinned() -> None:
    """``tests/system/test_demo.py`` installs the bot with its demo extra at these pins."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    path = SERVER_CONSTRAINTS / "demo.txt"
    requirements = [*project["project"]["dependencies"], *project["project"]["optional-dependencies"]["demo"]]
    check(requirements, pins(path), path)
