"""Credentials for integrations: read from an environment variable or a file, never inline.

Values are ``SecretStr`` from the moment they are read, so they never reach a log, a repr,
an error message or the timeline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_core import PydanticCustomError

from bot.errors import ConfigError


class SecretRef(BaseModel):
    """Where a secret lives: ``env: NAME`` or ``file: /path`` (e.g. a mounted k8s secret)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_inline(cls, data: Any) -> Any:
        # The value itself is never echoed: it is the secret.
        if isinstance(data, str | int | float):
            raise PydanticCustomError(
                "inline_secret",
                "a secret is not written in the config itself",
            )
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of `env` or `file`")
        return self

    def describe(self) -> str:
        return f"env {self.env}" if self.env else f"file {self.file}"

    def resolve(self) -> SecretStr:
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(
                    f"environment variable {self.env} is not set",
                    hint="set it in the bot's environment",
                )
            return SecretStr(value)
        assert self.file is not None
        try:
            return SecretStr(self.file.read_text().strip())
        except OSError as exc:
            raise ConfigError(
                f"cannot read secret file {self.file}: {exc.strerror}",
                hint="check the path and the bot's permissions",
            ) from None


class NoAuth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["none"] = "none"

    def headers(self) -> dict[str, str]:
        return {}

    def httpx_auth(self) -> httpx.Auth | None:
        return None


class BasicAuth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["basic"]
    username: str
    password: SecretRef

    def headers(self) -> dict[str, str]:
        return {}

    def httpx_auth(self) -> httpx.Auth | None:
        return httpx.BasicAuth(self.username, self.password.resolve().get_secret_value())


class BearerAuth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["bearer"]
    token: SecretRef

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.resolve().get_secret_value()}"}

    def httpx_auth(self) -> httpx.Auth | None:
        return None


AuthConfig = Annotated[NoAuth | BasicAuth | BearerAuth, Field(discriminator="type")]
