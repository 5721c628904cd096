"""Slack: the incident room (``room/``) and the bolt app that takes commands and clicks.

An edge of the bot: it imports the core (incidents, runbooks, the chat outbox), never the
other way round. See docs/slack.md.
"""
