"""Configured webhook sources, resolved once at start-up, and how a body becomes a batch.

The request path parses a body to refuse a wrong shape (422) before acknowledging; the
processor parses the stored body again, with the receipt time and what the bot assigned
(PagerDuty's generated ``dedup_key``), so both readings give the same alerts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.alert.settings import AlertSettings, AlertSourceSettings
from bot.errors import AuthenticationError, ConfigError
from integrations.sources import registry
from integrations.sources.auth import (
    GrafanaHmacWebhookAuth,
    HmacWebhookAuth,
    NoWebhookAuth,
    WebhookAuthConfig,
    verify,
)
from integrations.sources.generic import GenericMapping
from integrations.sources.model import ParsedBatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    name: str
    settings: AlertSourceSettings
    mapping: GenericMapping | None

    @property
    def kind(self) -> str:
        return self.settings.kind

    @property
    def auth(self) -> WebhookAuthConfig | None:
        return self.settings.auth

    @property
    def signs_body(self) -> bool:
        """Whether authentication needs the body (HMAC); otherwise it is checked before reading."""
        return isinstance(self.auth, GrafanaHmacWebhookAuth | HmacWebhookAuth)

    def authenticate(self, headers: Any, body: bytes, now: datetime) -> None:
        """Accept or raise AuthenticationError; a secret that cannot be read is a ConfigError."""
        if self.settings.unauthenticated:
            return
        if self.auth is None:
            raise AuthenticationError(
                f"source {self.name!r} has no credential configured, so every request is refused",
                hint=f"set alerts.sources.{self.name}.auth (bearer, basic, grafana_hmac or hmac)",
            )
        verify(self.auth, headers, body, now)

    def accept(self, data: Any, *, now: datetime) -> registry.Accepted:
        """The webhook request path's check of a decoded body (``registry.accept_webhook``)."""
        return registry.accept_webhook(
            self.settings.kind, data, source_name=self.name, now=now, mapping=self.mapping
        )

    def parse(self, data: Any, *, now: datetime, assigned: dict[str, str] | None = None) -> ParsedBatch:
        """The alerts of a decoded body; InputError names the field of a wrong shape."""
        if assigned and isinstance(data, dict):
            data = {**data, **{k: v for k, v in assigned.items() if k not in data}}
        return registry.parse_webhook(
            self.settings.kind, data, source_name=self.name, now=now, mapping=self.mapping
        )


def resolve_sources(settings: AlertSettings, base_dir: Path | None = None) -> dict[str, Source]:
    """Every configured source with its mapping loaded and its secrets readable (ConfigError)."""
    sources: dict[str, Source] = {}
    refusing: list[str] = []
    for name, config in settings.sources.items():
        mapping: GenericMapping | None = None
        if isinstance(config.mapping, GenericMapping):
            mapping = config.mapping
        elif isinstance(config.mapping, str):
            try:
                mapping = _load_mapping(config.mapping, base_dir)
            except ConfigError as exc:
                raise ConfigError(f"alerts.sources.{name}.mapping: {exc.message}", hint=exc.hint) from None
        _check_secrets(name, config.auth)
        if config.unauthenticated:
            log.warning(
                "alert source %r accepts webhooks WITHOUT authentication (allow_unauthenticated): "
                "anyone who can reach the bot can open incidents",
                name,
            )
        elif config.auth is None:
            refusing.append(name)
        sources[name] = Source(name=name, settings=config, mapping=mapping)
    if refusing:
        log.info("alert sources without a credential refuse every request: %s", ", ".join(refusing))
    return sources


def _load_mapping(text: str, base_dir: Path | None) -> GenericMapping:
    if text.endswith((".yaml", ".yml")):
        path = Path(text)
        return registry.load_mapping(path if path.is_absolute() or base_dir is None else base_dir / path)
    return registry.builtin_mapping(text)


def _check_secrets(name: str, auth: WebhookAuthConfig | None) -> None:
    if auth is None or isinstance(auth, NoWebhookAuth):
        return
    for field in ("token", "password", "secret"):
        ref = getattr(auth, field, None)
        if ref is not None:
            try:
                ref.resolve()
            except ConfigError as exc:
                raise ConfigError(
                    f"alerts.sources.{name}.auth.{field}: {exc.message}", hint=exc.hint
                ) from None
