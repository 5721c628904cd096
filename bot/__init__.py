"""incident-bot: incident response and runbook automation for machine-learning systems.

Importing this package has no side effects; build the application with
``bot.app.create_app(settings)``.
"""

__version__ = "0.1.0"
