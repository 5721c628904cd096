"""Authorization for tests that are not about authorization: everyone may do everything the
fixed rules allow (roles and approvals stay people's), and runs need no approval."""

from __future__ import annotations

from typing import Any

from bot.authz.policy import Authorizer
from bot.permissions import PermissionSettings

_NOT_LISTS = {"admins", "runs_without_approval"}

#: ``permissions:`` that allow anyone everything, and runs without approval (explicitly).
OPEN_PERMISSIONS: dict[str, Any] = {
    **{name: ["*"] for name in PermissionSettings.model_fields if name not in _NOT_LISTS},
    "runs_without_approval": ["*"],
}

OPEN = Authorizer(PermissionSettings(**OPEN_PERMISSIONS))
