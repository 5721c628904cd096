"""Package discovery only (metadata is in pyproject.toml).

The user-owned content folders at the top level (``runbooks/``, ``templates/``) ship inside
the wheel as ``bot/defaults/runbooks`` and ``bot/defaults/templates``, so a non-editable
install still finds the default runbooks and templates.
"""

from setuptools import find_packages, setup

CONTENT = {"bot.defaults.runbooks": "runbooks", "bot.defaults.templates": "templates"}

setup(
    packages=[*find_packages(include=["bot", "bot.*", "integrations", "integrations.*"]), *CONTENT],
    package_dir=CONTENT,
)
