"""The app manifest asks for exactly what the code uses: scopes, command, shortcut, events."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.slack.app import EVENTS_PATH
from bot.slack.ids import COMMAND, CallbackId

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "slack-app-manifest.yaml").read_text())

#: Bot scope each Web API method needs (Slack's method reference); None: no scope.
METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "views.open": None,
    "views.update": None,
    "chat.getPermalink": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.create": "channels:manage",
    "conversations.invite": "channels:manage",
    "conversations.setTopic": "channels:manage",
    "conversations.history": "channels:history",
    "conversations.info": "channels:read",
    "conversations.join": "channels:join",
    "pins.add": "pins:write",
    "bookmarks.add": "bookmarks:write",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "usergroups.list": "usergroups:read",
    "usergroups.users.list": "usergroups:read",
}
#: Scope each subscribed event needs.
EVENT_SCOPES = {"reaction_added": "reactions:read"}
#: Files that list every method the senders can encode (tables), not calls the bot makes.
TABLES = {"bot/chat/methods.py", "bot/chat/senders.py"}


def source_files() -> dict[str, str]:
    return {
        str(p.relative_to(ROOT)): p.read_text()
        for p in (ROOT / "bot").rglob("*.py")
        if str(p.relative_to(ROOT)) not in TABLES
    }


def methods_called() -> set[str]:
    """Web API methods named in outbox calls or called on the SDK client anywhere in bot/."""
    found: set[str] = set()
    for text in source_files().values():
        for method in METHOD_SCOPES:
            if f'"{method}"' in text or f"client.{method.replace('.', '_')}(" in text:
                found.add(method)
    return found


def events_handled() -> set[str]:
    return {m for text in source_files().values() for m in re.findall(r'@app\.event\("([a-z_]+)"\)', text)}


def test_scopes_are_exactly_those_the_code_needs() -> None:
    used = methods_called()
    assert {"conversations.create", "chat.update", "pins.add", "views.open", "users.lookupByEmail"} <= used
    needed = {scope for m in used if (scope := METHOD_SCOPES[m])}
    needed |= {EVENT_SCOPES[e] for e in events_handled()}
    needed |= {"commands", "chat:write.public"}  # /incident and the shortcut; the broadcast channel
    if "users:read.email" in needed:
        needed.add("users:read")  # Slack grants users:read.email only with users:read
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == needed


def test_events_command_shortcut_and_interactivity() -> None:
    settings = MANIFEST["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == events_handled() == {"reaction_added"}
    [command] = MANIFEST["features"]["slash_commands"]
    assert command["command"] == COMMAND
    assert command["should_escape"] is True  # mentions arrive as <@U123|name>
    [shortcut] = MANIFEST["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("message", CallbackId.ADD_TO_TIMELINE)
    assert settings["interactivity"]["is_enabled"] is True
    for url in (
        command["url"],
        settings["interactivity"]["request_url"],
        settings["event_subscriptions"]["request_url"],
    ):
        assert url.endswith(EVENTS_PATH)
    assert settings["socket_mode_enabled"] is False
    assert MANIFEST["features"]["app_home"]["messages_tab_enabled"] is True  # DMs from the bot
