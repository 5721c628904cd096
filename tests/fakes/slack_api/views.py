"""``views.*``: modals opened with a one-use trigger id and updated by id, external id and hash."""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.slack_api.workspace import SlackError, Workspace, _as_json


class ViewsMethods(Workspace):
    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = str(args.get("trigger_id", ""))
        if trigger not in self._triggers:
            raise SlackError("invalid_trigger_id")
        if self._triggers[trigger]:
            raise SlackError("exchanged_trigger_id")
        view = self._valid_view(args.get("view"))
        self._triggers[trigger] = True
        view_id = f"V{next(self._ids):08d}"
        stored = self._store_view(view_id, view)
        return {"view": stored}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        if view_id is None and args.get("external_id"):
            view_id = next(
                (k for k, v in self.views.items() if v.get("external_id") == args["external_id"]), None
            )
        if view_id not in self.views:
            raise SlackError("not_found")
        current = self.views[str(view_id)]
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        return {"view": self._store_view(str(view_id), self._valid_view(args.get("view")))}

    def _valid_view(self, raw: Any) -> dict[str, Any]:
        view = _as_json(raw, "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise SlackError("invalid_arguments")
        if view["type"] == "modal" and not isinstance(view.get("title"), dict):
            raise SlackError("invalid_arguments")
        if not isinstance(view.get("blocks", []), list):
            raise SlackError("invalid_blocks")
        return view

    def _store_view(self, view_id: str, view: dict[str, Any]) -> dict[str, Any]:
        stored = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{next(self._ids):08d}",
            "clear_on_close": False,
            "notify_on_close": False,
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": "AFAKE",
            "bot_id": self.bot_id,
        }
        self.views[view_id] = stored
        return dict(stored)
