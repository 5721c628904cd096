"""The Slack Web API methods the bot calls, their rate-limit tiers, and which errors are transient.

Tiers follow Slack's published limits (tier 2 ≈ 20/min, tier 3 ≈ 50/min, tier 4 ≈ 100/min);
chat.postMessage is "special": about one message per second per channel.
"""

from __future__ import annotations

#: Pacing key for chat.postMessage: per channel instead of per method.
PER_CHANNEL = 0

METHOD_TIERS: dict[str, int] = {
    "auth.test": 4,
    "chat.postMessage": PER_CHANNEL,
    "chat.update": 3,
    "chat.postEphemeral": 4,
    "chat.getPermalink": 4,
    "conversations.create": 2,
    "conversations.invite": 3,
    "conversations.join": 3,
    "conversations.info": 3,
    "conversations.setTopic": 2,
    "conversations.history": 3,
    "pins.add": 2,
    "bookmarks.add": 2,
    "users.lookupByEmail": 3,
    "users.info": 4,
    "usergroups.list": 2,
    "usergroups.users.list": 2,
    "views.open": 4,
    "views.update": 4,
}

#: ``ok: false`` errors worth retrying later: Slack's side, not the request, is at fault.
RETRYABLE_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "service_unavailable",
        "internal_error",
        "fatal_error",
        "request_timeout",
        "team_added_to_org",
        # The token is wrong or revoked: an operator fixes it and the backlog drains,
        # rather than every message being rejected for good.
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
    }
)


def is_known(method: str) -> bool:
    return method in METHOD_TIERS


def sdk_method_name(method: str) -> str:
    """``chat.postMessage`` → ``chat_postMessage``: the AsyncWebClient method that encodes it."""
    return method.replace(".", "_")
