"""``users.*`` and ``usergroups.*``: looking people and user groups up."""

from __future__ import annotations

from typing import Any

from tests.fakes.slack_api.workspace import SlackError, Workspace, _as_bool


class UsersMethods(Workspace):
    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args["email"]).lower()
        for user in self.users.values():
            if str(user["profile"].get("email", "")).lower() == email:
                return {"user": user}
        raise SlackError("users_not_found")

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"user": self._user(args["user"])}

    def _usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        include_users = _as_bool(args.get("include_users"))
        groups = []
        for group in self.usergroups.values():
            item = dict(group)
            if not include_users:
                item.pop("users")
            groups.append(item)
        return {"usergroups": groups}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(str(args["usergroup"]))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group["users"])}
