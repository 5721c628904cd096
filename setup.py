"""Package discovery only (metadata is in pyproject.toml).

The user-owned content folders at the top level (``runbooks/``, ``templates/``) ship inside
the wheel as ``bot/defaults/runbooks`` and ``bot/defaults/templates``, so a non-editable
install still finds the default runbooks and templates. ``examples/`` ships the same way, for
``incident-bot demo`` (the rules, the example model and its exporter).
"""

from setuptools import find_namespace_packages, find_packages, setup

CONTENT = {
    "bot.defaults.runbooks": "runbooks",
    "bot.defaults.templates": "templates",
    "bot.defaults.examples": "examples",
}
EXAMPLES = [f"bot.defaults.examples.{p}" for p in find_namespace_packages("examples")]

setup(
    packages=[
        *find_packages(include=["bot", "bot.*", "integrations", "integrations.*"]),
        *CONTENT,
        *EXAMPLES,
    ],
    package_dir=CONTENT,
)
