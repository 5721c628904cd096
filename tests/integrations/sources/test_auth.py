from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from bot.errors import AuthenticationError, ConfigError
from integrations.sources.auth import WebhookAuthConfig, verify
from tests.integrations.sources.conftest import NOW, fixture_bytes

SECRET = "s3cr3t-Hmac-Key-Do-Not-Leak"
TOKEN = "t0ken-Do-Not-Leak"
PASSWORD = "pa:ss-Do-Not-Leak"
BODY = fixture_bytes("grafana_webhook_firing")
TS = str(int(NOW.timestamp()))
adapter: TypeAdapter[Any] = TypeAdapter(WebhookAuthConfig)


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    monkeypatch.setenv("HOOK_PASSWORD", PASSWORD)


def config(**data: Any) -> Any:
    return adapter.validate_python(data)


def sign(message: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def refused(cfg: Any, headers: dict[str, str], body: bytes = BODY) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as info:
        verify(cfg, headers, body, NOW)
    text = f"{info.value} {info.value.to_dict()}"
    for secret in (SECRET, TOKEN, PASSWORD, sign(BODY), sign(TS.encode() + b":" + BODY)):
        assert secret not in text
    assert info.value.http_status == 401
    return info.value


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


BEARER = {"type": "bearer", "token": {"env": "HOOK_TOKEN"}}
BASIC = {"type": "basic", "username": "alertmanager", "password": {"env": "HOOK_PASSWORD"}}
GRAFANA = {"type": "grafana_hmac", "secret": {"env": "HOOK_SECRET"}}
HMAC = {"type": "hmac", "secret": {"env": "HOOK_SECRET"}}


def test_none_must_be_explicit() -> None:
    verify(config(type="none", allow_unauthenticated=True), {}, BODY, NOW)
    with pytest.raises(ValueError, match="allow_unauthenticated: true"):
        config(type="none")


def test_bearer() -> None:
    cfg = config(**BEARER)
    verify(cfg, {"Authorization": f"Bearer {TOKEN}"}, BODY, NOW)
    verify(cfg, {"authorization": f"bearer  {TOKEN} "}, BODY, NOW)
    assert refused(cfg, {"Authorization": "Bearer nope"}).message == "bearer token does not match"
    assert "env HOOK_TOKEN" in str(refused(cfg, {"Authorization": "Bearer nope"}))
    assert refused(cfg, {}).message == "missing Authorization header"
    assert "Bearer scheme" in refused(cfg, {"Authorization": f"Basic {TOKEN}"}).message
    assert "Bearer scheme" in refused(cfg, {"Authorization": "Bearer "}).message
    assert refused(cfg, {"Authorization": "Bearer t0ken-Dö"}).message.startswith("bearer token")


def test_basic_as_alertmanager_http_config_sends_it() -> None:
    cfg = config(**BASIC)
    verify(cfg, basic("alertmanager", PASSWORD), BODY, NOW)
    wrong = refused(cfg, basic("alertmanager", "guess"))
    assert wrong.message == "basic auth username or password does not match"
    assert refused(cfg, basic("grafana", PASSWORD)).message == wrong.message
    assert "not valid base64" in refused(cfg, {"Authorization": "Basic !!!"}).message
    no_colon = {"Authorization": "Basic " + base64.b64encode(b"alertmanager").decode()}
    assert "no username:password" in refused(cfg, no_colon).message


def test_grafana_signature_with_timestamp() -> None:
    cfg = config(**GRAFANA)
    headers = {
        "X-Grafana-Alerting-Signature": sign(TS.encode() + b":" + BODY),
        "X-Grafana-Alerting-Timestamp": TS,
    }
    verify(cfg, headers, BODY, NOW)
    verify(cfg, {k.lower(): v.upper() for k, v in headers.items()}, BODY, NOW)
    assert "does not match the body" in refused(cfg, headers, BODY + b" ").message
    other_ts = headers | {"X-Grafana-Alerting-Timestamp": str(int(TS) + 1)}
    assert "does not match the body" in refused(cfg, other_ts).message
    wrong_key = headers | {"X-Grafana-Alerting-Signature": sign(TS.encode() + b":" + BODY, "k")}
    assert "check the contact point's HMAC secret" in str(refused(cfg, wrong_key))


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (0, True),
        (-299, True),
        (299, True),
        (-301, False),
        (301, False),
    ],
)
def test_grafana_replay_window(offset: int, accepted: bool) -> None:
    cfg = config(**GRAFANA)
    ts = str(int(NOW.timestamp()) + offset)
    headers = {
        "X-Grafana-Alerting-Signature": sign(ts.encode() + b":" + BODY),
        "X-Grafana-Alerting-Timestamp": ts,
    }
    if accepted:
        verify(cfg, headers, BODY, NOW)
    else:
        assert "outside the replay window of 300s" in refused(cfg, headers).message


def test_grafana_replay_window_is_configurable() -> None:
    cfg = config(**GRAFANA, replay_window_s=30)
    ts = str(int(NOW.timestamp()) - 60)
    headers = {
        "X-Grafana-Alerting-Signature": sign(ts.encode() + b":" + BODY),
        "X-Grafana-Alerting-Timestamp": ts,
    }
    assert "replay window of 30s" in refused(cfg, headers).message


def test_grafana_signature_without_timestamp() -> None:
    headers = {"X-Grafana-Alerting-Signature": sign(BODY)}
    assert "missing X-Grafana-Alerting-Timestamp" in refused(config(**GRAFANA), headers).message
    lenient = config(**GRAFANA, require_timestamp=False)
    verify(lenient, headers, BODY, NOW)
    assert "does not match" in refused(lenient, {"X-Grafana-Alerting-Signature": "00"}).message
    assert "missing X-Grafana-Alerting-Signature" in refused(lenient, {}).message
    bad_ts = headers | {"X-Grafana-Alerting-Timestamp": "yesterday"}
    bad_ts["X-Grafana-Alerting-Signature"] = sign(b"yesterday:" + BODY)
    assert "not a Unix timestamp" in refused(lenient, bad_ts).message


def test_generic_hmac() -> None:
    cfg = config(**HMAC)
    good = {"X-Signature": "sha256=" + sign(TS.encode() + b":" + BODY), "X-Timestamp": TS}
    verify(cfg, good, BODY, NOW)
    assert "must look like sha256=<hex>" in refused(cfg, good | {"X-Signature": sign(BODY)}).message
    sha1 = good | {"X-Signature": "sha1=" + sign(TS.encode() + b":" + BODY)}
    assert "must look like sha256=<hex>" in refused(cfg, sha1).message
    assert "missing X-Timestamp" in refused(cfg, {"X-Signature": good["X-Signature"]}).message
    assert "missing X-Signature" in refused(cfg, {"X-Timestamp": TS}).message
    assert "does not match the body" in refused(cfg, good, b"{}").message
    stale_ts = str(int(TS) - 3600)
    stale = {"X-Signature": "sha256=" + sign(stale_ts.encode() + b":" + BODY), "X-Timestamp": stale_ts}
    assert "outside the replay window" in refused(cfg, stale).message
    nan = {"X-Signature": "sha256=" + sign(b"nan:" + BODY), "X-Timestamp": "nan"}
    assert "outside the replay window" in refused(cfg, nan).message


def test_custom_header_names() -> None:
    cfg = config(**HMAC, signature_header="X-Hub-Signature-256", timestamp_header="X-Hub-Time")
    headers = {"x-hub-signature-256": "sha256=" + sign(TS.encode() + b":" + BODY), "x-hub-time": TS}
    verify(cfg, headers, BODY, NOW)


def test_secret_from_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text(TOKEN + "\n")
    cfg = config(type="bearer", token={"file": str(secret_file)})
    verify(cfg, {"Authorization": f"Bearer {TOKEN}"}, BODY, NOW)


def test_missing_secret_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOOK_TOKEN")
    with pytest.raises(ConfigError, match="HOOK_TOKEN is not set"):
        verify(config(**BEARER), {"Authorization": "Bearer x"}, BODY, NOW)


def test_configs_hold_references_not_secrets() -> None:
    for data in (BEARER, BASIC, GRAFANA, HMAC):
        text = repr(config(**data))
        assert all(s not in text for s in (SECRET, TOKEN, PASSWORD))
    with pytest.raises(ValueError, match="replay_window_s"):
        config(**GRAFANA, replay_window_s=0)
    with pytest.raises(ValueError, match="Extra inputs"):
        config(**BEARER, token_value="inline")
