"""Package discovery only (metadata is in pyproject.toml).

Every folder under ``bot/`` and ``integrations/`` is a package, including data folders without
an ``__init__.py`` (``bot/migrations``, ``integrations/sources/mappings``...): a folder left out
of discovery would silently leave its files out of the wheel. The user-owned content folders at
the top level (``runbooks/``, ``templates/``) ship inside the wheel as ``bot/defaults/runbooks``
and ``bot/defaults/templates``, so a non-editable install finds the default runbooks and
templates; ``examples/`` ships the same way, for ``incident-bot demo`` (the Prometheus rules, the
example model and its exporter). Which files go in: MANIFEST.in.
"""

from setuptools import find_namespace_packages, setup

CONTENT = {
    "bot.defaults.runbooks": "runbooks",
    "bot.defaults.templates": "templates",
    "bot.defaults.examples": "examples",
}
EXAMPLES = [
    f"bot.defaults.examples.{p}" for p in find_namespace_packages("examples", exclude=["*.__pycache__"])
]

setup(
    packages=[
        *find_namespace_packages(
            include=["bot", "bot.*", "integrations", "integrations.*"], exclude=["*.__pycache__"]
        ),
        *CONTENT,
        *EXAMPLES,
    ],
    package_dir=CONTENT,
)
