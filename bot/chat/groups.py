"""Chat user groups: who is in ``@ml-oncall`` (permissions, invites) and how to mention it.

``SlackGroups`` asks Slack (``usergroups.list`` maps a handle to its id, ``usergroups.users.list``
gives the members) and keeps answers for ``ttl_s`` so a burst of button clicks costs one
call. When Slack cannot answer, a cached answer up to ``stale_s`` old is used (logged);
without one the lookup fails loudly rather than deciding a permission on no data.
``ConsoleGroups`` (no Slack): groups have no members.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from bot.chat.senders import ChatSender
from bot.errors import IntegrationError, NotFoundError, RetryableIntegrationError

log = logging.getLogger(__name__)

_GROUP_ID = re.compile(r"^S[A-Z0-9]+$")


def _handle(group: str) -> str:
    return group.strip().removeprefix("@")


class ConsoleGroups:
    async def members(self, group: str) -> set[str]:
        return set()

    async def mention(self, group: str) -> str:
        return f"@{_handle(group)}"


class SlackGroups:
    def __init__(
        self,
        sender: ChatSender,
        *,
        ttl_s: float = 60.0,
        stale_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sender = sender
        self._ttl_s = ttl_s
        self._stale_s = stale_s
        self._clock = clock
        self._cache: dict[str, tuple[float, Any]] = {}

    async def members(self, group: str) -> set[str]:
        """Slack user ids in ``group`` (``@handle`` or a group id ``S0123``)."""
        group_id = await self.group_id(group)
        users = await self._cached(
            f"members:{group_id}",
            lambda: self._call("usergroups.users.list", {"usergroup": group_id}, "users"),
        )
        return {str(u) for u in users}

    async def mention(self, group: str) -> str:
        """``<!subteam^S0123>`` (notifies the members), or ``@handle`` when the id is unknown."""
        try:
            return f"<!subteam^{await self.group_id(group)}>"
        except (IntegrationError, NotFoundError) as exc:
            log.warning("cannot mention user group %s: %s", group, exc)
            return f"@{_handle(group)}"

    async def group_id(self, group: str) -> str:
        handle = _handle(group)
        if _GROUP_ID.match(handle):
            return handle
        groups = await self._cached("usergroups", lambda: self._call("usergroups.list", {}, "usergroups"))
        for item in groups:
            if isinstance(item, dict) and item.get("handle") == handle:
                return str(item["id"])
        raise NotFoundError(
            f"Slack user group @{handle} does not exist",
            hint="check the handle in the permissions/oncall settings (Slack: People → User groups)",
        )

    async def _call(self, method: str, payload: dict[str, Any], field: str) -> Any:
        answer = await self._sender.call(method, payload)
        if not answer.get("ok"):
            raise RetryableIntegrationError(
                f"Slack refused {method}: {answer.get('error')}",
                call=method,
                hint="the app needs the usergroups:read scope",
            )
        return answer.get(field, [])

    async def _cached(self, key: str, load: Callable[[], Any]) -> Any:
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        try:
            value = await load()
        except IntegrationError as exc:
            if cached is not None and now - cached[0] < self._stale_s:
                log.warning("using a %.0fs old answer for %s: %s", now - cached[0], key, exc)
                return cached[1]
            raise
        self._cache[key] = (now, value)
        return value
