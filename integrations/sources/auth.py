"""Who may post to a webhook: per-source authentication config and its verification.

Deny by default: a source must say how its sender authenticates, and ``type: none`` needs
``allow_unauthenticated: true`` spelled out. Every comparison is constant-time
(``hmac.compare_digest``); error messages say what to check and never carry a secret, a
received credential or an expected signature.

    bearer        Authorization: Bearer <token>   (Alertmanager http_config.authorization,
                                                    Grafana "Authorization header", Datadog
                                                    custom headers)
    basic         Authorization: Basic ...        (Alertmanager http_config.basic_auth)
    grafana_hmac  X-Grafana-Alerting-Signature: hex HMAC-SHA256 of the body, or of
                  "<timestamp>:<body>" when X-Grafana-Alerting-Timestamp is sent
    hmac          X-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>:<body>">,
                  X-Timestamp: <unix seconds>     (any sender that can sign)

A signed request is accepted once: ``replay_key`` names it (the signature covers the timestamp
and the body) for the receiver's replay guard, for as long as its timestamp is acceptable.
Grafana signatures without a timestamp (``require_timestamp: false``) cannot be told from a
legitimate repeat, so they are not remembered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.errors import AuthenticationError
from integrations.credentials import SecretRef

DEFAULT_REPLAY_WINDOW_S = 300


class _AuthBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoWebhookAuth(_AuthBase):
    """No authentication, only when ``allow_unauthenticated: true`` says it is on purpose."""

    type: Literal["none"]
    allow_unauthenticated: bool = False

    @model_validator(mode="after")
    def _explicit(self) -> NoWebhookAuth:
        if not self.allow_unauthenticated:
            raise ValueError(
                "type none needs allow_unauthenticated: true (anyone who can reach the bot "
                "could open incidents); prefer bearer, basic or hmac"
            )
        return self


class BearerWebhookAuth(_AuthBase):
    type: Literal["bearer"]
    token: SecretRef


class BasicWebhookAuth(_AuthBase):
    type: Literal["basic"]
    username: str = Field(min_length=1)
    password: SecretRef


class GrafanaHmacWebhookAuth(_AuthBase):
    type: Literal["grafana_hmac"]
    secret: SecretRef
    signature_header: str = "X-Grafana-Alerting-Signature"
    timestamp_header: str = "X-Grafana-Alerting-Timestamp"
    #: Refuse requests without the timestamp header (set Grafana's "Timestamp Header").
    require_timestamp: bool = True
    replay_window_s: int = Field(default=DEFAULT_REPLAY_WINDOW_S, gt=0)


class HmacWebhookAuth(_AuthBase):
    type: Literal["hmac"]
    secret: SecretRef
    signature_header: str = "X-Signature"
    timestamp_header: str = "X-Timestamp"
    replay_window_s: int = Field(default=DEFAULT_REPLAY_WINDOW_S, gt=0)


WebhookAuthConfig = Annotated[
    NoWebhookAuth | BearerWebhookAuth | BasicWebhookAuth | GrafanaHmacWebhookAuth | HmacWebhookAuth,
    Field(discriminator="type"),
]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (works for dicts and Starlette's Headers alike)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, candidate in headers.items():
        if key.lower() == wanted:
            return candidate
    return None


def _same(received: str | bytes, expected: str | bytes) -> bool:
    a = received.encode("utf-8", "surrogatepass") if isinstance(received, str) else received
    b = expected.encode("utf-8", "surrogatepass") if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


def _authorization(headers: Mapping[str, str], scheme: str) -> str:
    value = _header(headers, "Authorization")
    if value is None:
        raise AuthenticationError(
            "missing Authorization header",
            hint=f"configure the sender to send Authorization: {scheme} ...",
        )
    got_scheme, _, credentials = value.strip().partition(" ")
    if got_scheme.lower() != scheme.lower() or not credentials.strip():
        raise AuthenticationError(
            f"Authorization header does not use the {scheme} scheme",
            hint=f"this source expects Authorization: {scheme} ...",
        )
    return credentials.strip()


def _verify_bearer(config: BearerWebhookAuth, headers: Mapping[str, str]) -> None:
    token = _authorization(headers, "Bearer")
    if not _same(token, config.token.resolve().get_secret_value()):
        raise AuthenticationError(
            "bearer token does not match",
            hint=f"check the sender's token against the one in {config.token.describe()}",
        )


def _verify_basic(config: BasicWebhookAuth, headers: Mapping[str, str]) -> None:
    encoded = _authorization(headers, "Basic")
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise AuthenticationError("Authorization Basic credentials are not valid base64") from None
    username, sep, password = decoded.partition(b":")
    if not sep:
        raise AuthenticationError("Authorization Basic credentials have no username:password")
    user_ok = _same(username, config.username.encode())
    password_ok = _same(password, config.password.resolve().get_secret_value().encode())
    if not (user_ok and password_ok):
        raise AuthenticationError(
            "basic auth username or password does not match",
            hint=f"check the sender's basic_auth against username {config.username!r} and "
            f"the password in {config.password.describe()}",
        )


def _check_timestamp(raw: str, header: str, window_s: int, now: datetime) -> None:
    try:
        sent = float(raw.strip())
    except ValueError:
        raise AuthenticationError(f"{header} is not a Unix timestamp") from None
    skew = abs(now.timestamp() - sent)
    if not skew <= window_s:  # also refuses NaN
        raise AuthenticationError(
            f"{header} is outside the replay window of {window_s}s",
            hint="a replayed or delayed request, or the sender's clock is off; check NTP",
        )


def _signed(timestamp: str, body: bytes) -> bytes:
    """The signed string when a timestamp is sent: ``<timestamp>:<body>``."""
    return timestamp.encode("utf-8", "surrogatepass") + b":" + body


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _verify_grafana(
    config: GrafanaHmacWebhookAuth, headers: Mapping[str, str], body: bytes, now: datetime
) -> None:
    signature = _header(headers, config.signature_header)
    if signature is None:
        raise AuthenticationError(
            f"missing {config.signature_header} header",
            hint="set an HMAC secret in the Grafana webhook contact point",
        )
    timestamp = _header(headers, config.timestamp_header)
    if timestamp is None and config.require_timestamp:
        raise AuthenticationError(
            f"missing {config.timestamp_header} header",
            hint="set the contact point's HMAC Timestamp Header, or require_timestamp: false",
        )
    message = body if timestamp is None else _signed(timestamp, body)
    expected = _hex_hmac(config.secret.resolve().get_secret_value(), message)
    if not _same(signature.strip().lower(), expected):
        raise AuthenticationError(
            f"{config.signature_header} does not match the body",
            hint=f"check the contact point's HMAC secret against {config.secret.describe()}",
        )
    if timestamp is not None:
        _check_timestamp(timestamp, config.timestamp_header, config.replay_window_s, now)


def _verify_hmac(config: HmacWebhookAuth, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
    signature = _header(headers, config.signature_header)
    timestamp = _header(headers, config.timestamp_header)
    if signature is None or timestamp is None:
        missing = config.signature_header if signature is None else config.timestamp_header
        raise AuthenticationError(
            f"missing {missing} header",
            hint=f"sign requests: {config.signature_header}: sha256=<hex HMAC-SHA256 of "
            f"'<timestamp>:<body>'>, {config.timestamp_header}: <unix seconds>",
        )
    scheme, sep, digest = signature.strip().partition("=")
    if not sep or scheme.lower() != "sha256":
        raise AuthenticationError(f"{config.signature_header} must look like sha256=<hex>")
    message = _signed(timestamp, body)
    expected = _hex_hmac(config.secret.resolve().get_secret_value(), message)
    if not _same(digest.strip().lower(), expected):
        raise AuthenticationError(
            f"{config.signature_header} does not match the body",
            hint=f"check the sender's secret against {config.secret.describe()}",
        )
    _check_timestamp(timestamp, config.timestamp_header, config.replay_window_s, now)


def verify(config: WebhookAuthConfig, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
    """Accept the request or raise ``AuthenticationError`` (a missing secret is ConfigError).

    ``body`` is the raw request body exactly as received: signatures are over its bytes.
    """
    if isinstance(config, NoWebhookAuth):
        return
    if isinstance(config, BearerWebhookAuth):
        _verify_bearer(config, headers)
    elif isinstance(config, BasicWebhookAuth):
        _verify_basic(config, headers)
    elif isinstance(config, GrafanaHmacWebhookAuth):
        _verify_grafana(config, headers, body, now)
    else:
        _verify_hmac(config, headers, body, now)


def replay_key(config: WebhookAuthConfig | None, headers: Mapping[str, str]) -> tuple[str, int] | None:
    """The signature of a verified HMAC request and how long it stays acceptable, or None."""
    if not isinstance(config, GrafanaHmacWebhookAuth | HmacWebhookAuth):
        return None
    signature = _header(headers, config.signature_header)
    if signature is None or _header(headers, config.timestamp_header) is None:
        return None
    return signature.strip().lower(), 2 * config.replay_window_s
