"""Requests Slack would send the bot: signed exactly like Slack signs them (v0 HMAC-SHA256).

Bodies follow the published payload shapes: slash commands and interactions form-encoded (the
interaction as a JSON ``payload`` field), Events API callbacks as JSON.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the example secret of Slack's docs
TEAM = {"id": "T0FAKE", "domain": "fake-workspace"}
_counter = itertools.count(1)


def signature_headers(
    body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def command_body(
    text: str, *, user: str, user_name: str, channel: str, response_url: str, trigger_id: str
) -> str:
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": channel,
            "channel_name": "some-channel",
            "user_id": user,
            "user_name": user_name,
            "command": "/incident",
            "text": text,
            "api_app_id": "AFAKE",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def interaction_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def block_action(
    action_id: str,
    value: str,
    *,
    user: str,
    user_name: str,
    channel: str,
    response_url: str,
    trigger_id: str,
    message_ts: str = "1700000000.000100",
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": TEAM,
        "user": {"id": user, "username": user_name, "name": user_name, "team_id": TEAM["id"]},
        "api_app_id": "AFAKE",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "channel": {"id": channel, "name": "some-channel"},
        "message": {"type": "message", "ts": message_ts, "text": "card"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "card.actions",
                "text": {"type": "plain_text", "text": "button"},
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def message_shortcut(
    message: dict[str, Any], *, user: str, user_name: str, channel: str, response_url: str, trigger_id: str
) -> dict[str, Any]:
    return {
        "type": "message_action",
        "callback_id": "incident.add_to_timeline",
        "trigger_id": trigger_id,
        "message_ts": message["ts"],
        "response_url": response_url,
        "team": TEAM,
        "channel": {"id": channel, "name": "some-channel"},
        "user": {"id": user, "name": user_name, "username": user_name, "team_id": TEAM["id"]},
        "message": message,
        "token": "legacy-verification-token",
    }


def view_submission(
    values: dict[str, dict[str, Any]], *, user: str, user_name: str, private_metadata: str
) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": TEAM,
        "user": {"id": user, "username": user_name, "name": user_name, "team_id": TEAM["id"]},
        "api_app_id": "AFAKE",
        "token": "legacy-verification-token",
        "trigger_id": f"{next(_counter)}.T0FAKE.submit",
        "view": {
            "id": "V0SUBMIT",
            "team_id": TEAM["id"],
            "type": "modal",
            "callback_id": "incident.declare",
            "private_metadata": private_metadata,
            "state": {"values": values},
            "hash": "1.abc",
        },
        "response_urls": [],
    }


def event_callback(event: dict[str, Any]) -> str:
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM["id"],
            "api_app_id": "AFAKE",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{next(_counter):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM["id"], "user_id": "UBOT", "is_bot": True}],
        }
    )
