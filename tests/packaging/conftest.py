"""Fixtures of the packaging tests: the repository as a fresh clone would hold it, an offline
wheelhouse of the pinned dependencies, and the sdist and wheel built from that clone.

Builds run as a user's would (``python -m build``: the sdist, then the wheel from the sdist, in
an isolated build environment), but offline: pip reads only the wheelhouse
(``PIP_NO_INDEX``, ``PIP_FIND_LINKS``), pinned by ``constraints.txt``. The wheelhouse is cached
beside the system tests' environments, keyed by the constraints it was made from.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.system.servers import CACHE

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints.txt"


def tree_files() -> list[str]:
    """What a commit of the working tree would hold: tracked files and new files git does not
    ignore (so a data file added but not yet committed counts too), without deleted ones."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the packaging tests compare the build with git's file list: run them in a git checkout")
    return sorted(f for f in set(listed.split("\0")) if f and (ROOT / f).is_file())


def copy_tree(destination: Path) -> Path:
    """A copy of the repository as a fresh clone of it would be."""
    for name in tree_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return destination


def offline_pip_env(wheelhouse: Path) -> dict[str, str]:
    """Environment for pip (and the build frontends that call it): the wheelhouse only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "INCIDENT_BOT_", "SLACK_"))}
    env.update(
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheelhouse),
        PIP_CONSTRAINT=str(CONSTRAINTS),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return env


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """Wheels of every runtime dependency and build requirement at the pinned versions."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requirements = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    digest = hashlib.sha256("\n".join([*requirements, CONSTRAINTS.read_text()]).encode()).hexdigest()[:12]
    folder = CACHE / "wheelhouses" / f"incident-bot-{digest}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / "incident-bot.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".complete").exists():
            shutil.rmtree(folder, ignore_errors=True)
            subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(folder),
                 "--constraint", str(CONSTRAINTS), *requirements],
                check=True,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            (folder / ".complete").write_text("\n".join(requirements))
    return folder


@dataclass(frozen=True)
class Dists:
    source: Path
    sdist: Path
    wheel: Path

    def wheel_names(self) -> set[str]:
        with zipfile.ZipFile(self.wheel) as archive:
            return {n for n in archive.namelist() if not n.split("/")[0].endswith(".dist-info")}


@pytest.fixture(scope="session")
def dists(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """The sdist and the wheel (built from the sdist), from a fresh copy of the repository."""
    source = copy_tree(tmp_path_factory.mktemp("clone"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
        env=offline_pip_env(wheelhouse),
        stdin=subprocess.DEVNULL,
    )
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    return Dists(source, sdist, wheel)
