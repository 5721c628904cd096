"""A real Alertmanager posts webhooks to a local receiver; our parser and auth read them.

This checks the wire format against the real sender rather than our reading of its docs: the
fingerprint Alertmanager computes equals ours, ``groupKey``/``status``/``endsAt`` arrive as we
parse them, and ``http_config`` basic auth and bearer credentials pass ``auth.verify``.
Needs the ``alertmanager`` binary (Debian: ``apt-get install prometheus-alertmanager``).
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from bot.errors import AuthenticationError
from integrations.sources import alertmanager
from integrations.sources.auth import WebhookAuthConfig, verify
from integrations.sources.fingerprint import labelset_fingerprint
from tests.system.fixtures.alertmanager import alertmanager_binary, run_alertmanager, webhook_receiver
from tests.system.servers import free_port

pytestmark = pytest.mark.system

PASSWORD = "am-basic-Pa55"
TOKEN = "am-bearer-T0ken"
AUTH: TypeAdapter[Any] = TypeAdapter(WebhookAuthConfig)


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


class _Receiver(BaseHTTPRequestHandler):
    deliveries: queue.Queue[Delivery]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.deliveries.put(Delivery(self.path, dict(self.headers.items()), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass
class Setup:
    api: str
    deliveries: queue.Queue[Delivery]
    secrets: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    alertmanager_binary()  # skip (or fail in CI) before starting anything
    work = tmp_path_factory.mktemp("alertmanager")
    deliveries: queue.Queue[Delivery] = queue.Queue()
    handler = type("Receiver", (_Receiver,), {"deliveries": deliveries})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/webhooks/alertmanager"
    (work / "password").write_text(PASSWORD)
    (work / "token").write_text(TOKEN)
    basic = {"basic_auth": {"username": "alertmanager", "password_file": str(work / "password")}}
    bearer = {"authorization": {"type": "Bearer", "credentials_file": str(work / "token")}}
    receivers = [webhook_receiver("basic", hook, basic), webhook_receiver("bearer", hook, bearer)]
    routes = [{"matchers": ['auth="bearer"'], "receiver": "bearer"}]
    try:
        with run_alertmanager(work, routes, receivers) as running:
            yield Setup(api=f"{running.url}/api/v2", deliveries=deliveries, secrets=work)
    finally:
        server.shutdown()
        server.server_close()


def _post(setup: Setup, alerts: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{setup.api}/alerts", json=alerts, timeout=10)
    assert response.status_code == 200, response.text


def _next(setup: Setup, status: str) -> tuple[Delivery, dict[str, Any]]:
    while True:
        delivery = setup.deliveries.get(timeout=30)
        body = json.loads(delivery.body)
        if body["status"] == status:
            return delivery, body


def _alert(labels: dict[str, str], starts: datetime, ends: datetime | None = None) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {
            "summary": f"{labels['model']} error rate above 5%",
            "runbook_url": "https://runbooks.example.com/rollback-model",
        },
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
        "startsAt": starts.isoformat(),
    }
    if ends is not None:
        alert["endsAt"] = ends.isoformat()
    return alert


def test_firing_then_resolved_through_a_real_alertmanager(
    setup: Setup,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    labels = {
        "alertname": "ModelErrorRateHigh",
        "model": "fraud-detector",
        "severity": "critical",
        "instance": "scoring-0:8080",
    }
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    _post(setup, [_alert(labels, starts)])

    delivery, body = _next(setup, "firing")
    assert delivery.path == "/webhooks/alertmanager"
    now = datetime.now(UTC)
    verify(
        AUTH.validate_python(
            {
                "type": "basic",
                "username": "alertmanager",
                "password": {"file": str(setup.secrets / "password")},
            }
        ),
        delivery.headers,
        delivery.body,
        now,
    )
    wrong = AUTH.validate_python(
        {"type": "basic", "username": "alertmanager", "password": {"env": "AM_WRONG_PASSWORD"}}
    )
    monkeypatch.setenv("AM_WRONG_PASSWORD", "not-it")
    with pytest.raises(AuthenticationError, match="does not match"):
        verify(wrong, delivery.headers, delivery.body, now)

    batch = alertmanager.parse(body, source_name="alertmanager", now=now)
    assert body["version"] == "4"
    assert batch.receiver == "basic"
    assert batch.group_key == body["groupKey"]
    assert 'alertname="ModelErrorRateHigh"' in (batch.group_key or "")
    (alert,) = batch.alerts
    assert body["alerts"][0]["fingerprint"] == labelset_fingerprint(labels)  # theirs == ours
    assert alert.fingerprint == labelset_fingerprint(labels)
    assert alert.status == "firing"
    assert alert.severity == "critical"
    assert alert.title == "fraud-detector error rate above 5%"
    assert alert.starts_at == starts
    assert alert.ends_at is None  # Alertmanager sends Go's zero time for firing alerts

    _post(setup, [_alert(labels, starts, ends=datetime.now(UTC) - timedelta(seconds=1))])
    delivery, body = _next(setup, "resolved")
    (resolved,) = alertmanager.parse(body, source_name="alertmanager", now=now).alerts
    assert resolved.status == "resolved"
    assert resolved.fingerprint == alert.fingerprint
    assert resolved.ends_at is not None
    assert resolved.ends_at <= datetime.now(UTC)


def test_bearer_credentials_from_http_config(setup: Setup) -> None:
    labels = {"alertname": "FeatureDriftHigh", "model": "churn", "auth": "bearer"}
    _post(setup, [_alert(labels, datetime.now(UTC))])
    delivery, body = _next(setup, "firing")
    assert body["receiver"] == "bearer"
    verify(
        AUTH.validate_python({"type": "bearer", "token": {"file": str(setup.secrets / "token")}}),
        delivery.headers,
        delivery.body,
        datetime.now(UTC),
    )
    (alert,) = alertmanager.parse(body, source_name="am", now=datetime.now(UTC)).alerts
    assert alert.fingerprint == body["alerts"][0]["fingerprint"] == labelset_fingerprint(labels)
    assert alert.severity == "warning"  # no severity label
