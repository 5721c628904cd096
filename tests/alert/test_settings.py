"""alerts: settings (sources merged with the shipped five, routes) and label matchers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.alert.matchers import Matcher, match_labels
from bot.alert.settings import AlertSettings
from bot.alert.sources import resolve_sources
from bot.config import load_settings
from bot.errors import AuthenticationError, ConfigError
from bot.incident.domain import Severity


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('model="fraud"', {"model": "fraud"}, True),
        ("model=fraud", {"model": "fraud"}, True),
        ('model="fraud"', {"model": "fraud-2"}, False),
        ('model!="fraud"', {}, True),
        ('model=~"fraud|churn"', {"model": "churn"}, True),
        ('model=~"fraud"', {"model": "fraud-2"}, False),  # anchored, as in Alertmanager
        ('model!~"fraud.*"', {"model": "ranker"}, True),
        ('team=~".+"', {}, False),
        ('summary="say \\"hi\\""', {"summary": 'say "hi"'}, True),
        ("  env  !=  prod ", {"env": "dev"}, True),
    ],
)
def test_matchers(text: str, labels: dict[str, str], expected: bool) -> None:
    assert Matcher.parse(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model", "must look like"),
        ('model="a', "unbalanced quotes"),
        ('model=a"b', "unbalanced quotes"),
        ('model="a"b"', "unescaped quote"),
        ('model=~"("', "invalid regex"),
        ('1model="a"', "must look like"),
    ],
)
def test_bad_matchers(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Matcher.parse(text)


def test_matcher_round_trip_and_pseudo_labels() -> None:
    matcher = Matcher.parse('summary=~"a\\"b.*"')
    assert Matcher.parse(str(matcher)) == matcher
    labels = match_labels({"model": "x"}, source="am", kind="alertmanager", severity="high")
    assert Matcher.parse('__severity__="high"').matches(labels)
    assert Matcher.parse('__source__="am"').matches(labels)


def test_defaults_ship_five_sources_that_refuse_everything() -> None:
    settings = load_settings().alerts
    assert list(settings.sources) == ["alertmanager", "grafana", "pagerduty", "datadog", "generic"]
    assert all(s.auth is None and not s.unauthenticated for s in settings.sources.values())
    sources = resolve_sources(settings)
    assert sources["generic"].mapping is not None
    from datetime import UTC, datetime

    with pytest.raises(AuthenticationError, match="no credential configured"):
        sources["alertmanager"].authenticate({}, b"", datetime.now(UTC))
    assert settings.storm.new_groups_per_minute == 20
    assert settings.intake.max_body_bytes == 1024 * 1024
    assert settings.grouping.group_by == ["model", "service", "alertname"]


def test_yaml_sources_extend_and_remove_the_shipped_ones(tmp_path: Path) -> None:
    (tmp_path / "feature-monitor.yaml").write_text("about: test\nstatus: {path: state}\ntitle: [name]\n")
    config = tmp_path / "bot.yaml"
    config.write_text(
        """
alerts:
  sources:
    alertmanager:
      auth: {type: basic, username: am, password: {env: AM_PASSWORD}}
    datadog: null
    features:
      kind: generic
      mapping: feature-monitor.yaml
      auth: {type: none, allow_unauthenticated: true}
  routes:
    - name: fraud
      matchers: ['model="fraud"']
      severity: SEV1
    - name: drift
      matchers: {monitor: drift}
      severity_map: {high: SEV4}
"""
    )
    settings = load_settings(config)
    alerts = settings.alerts
    assert list(alerts.sources) == ["alertmanager", "grafana", "pagerduty", "generic", "features"]
    assert alerts.sources["alertmanager"].kind == "alertmanager"
    assert alerts.sources["features"].unauthenticated
    assert alerts.route_for({"model": "fraud"}).name == "fraud"
    assert alerts.route_for({"monitor": "drift"}).name == "drift"
    assert alerts.route_for({"model": "x"}).name == "default"
    drift = alerts.routes[1]
    assert drift.incident_severity(["high", "warning"]) == Severity.SEV3
    assert drift.incident_severity(["high"]) == Severity.SEV4
    assert alerts.routes[0].incident_severity(["info"]) == Severity.SEV1
    with pytest.raises(
        ConfigError, match=r"alerts\.sources\.alertmanager\.auth\.password: environment variable AM_PASSWORD"
    ):
        resolve_sources(alerts, config.parent)


def test_env_vars_configure_a_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCIDENT_BOT_ALERTS__SOURCES__GRAFANA__AUTH__TYPE", "grafana_hmac")
    monkeypatch.setenv("INCIDENT_BOT_ALERTS__SOURCES__GRAFANA__AUTH__SECRET__FILE", "/run/secrets/grafana")
    source = load_settings().alerts.sources["grafana"]
    assert source.kind == "grafana" and source.auth is not None and source.auth.type == "grafana_hmac"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"sources": {"x": {"kind": "generic"}}}, "a generic source needs a mapping"),
        (
            {"sources": {"x": {"kind": "grafana", "mapping": "soda-cloud"}}},
            "a grafana source takes no mapping",
        ),
        ({"sources": {"x": {"kind": "nagios"}}}, "kind"),
        ({"sources": {"a/b": {"kind": "grafana"}}}, "it is a URL path"),
        ({"sources": {"x": {"kind": "grafana", "auth": {"type": "none"}}}}, "allow_unauthenticated: true"),
        ({"routes": [{"name": "a"}, {"name": "a"}]}, "two routes are named 'a'"),
        ({"routes": [{"name": "a", "matchers": ["bad"]}]}, "must look like"),
        ({"routes": [{"name": "a", "min_count": 0}]}, "min_count"),
        ({"grouping": {"on_resolved": "ignore"}}, "on_resolved"),
    ],
)
def test_invalid_alert_settings_name_the_field(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(alerts=config)


def test_unknown_builtin_mapping_is_a_start_up_error() -> None:
    settings = AlertSettings.model_validate({"sources": {"x": {"kind": "generic", "mapping": "nope"}}})
    with pytest.raises(ConfigError, match=r"alerts\.sources\.x\.mapping: no built-in mapping 'nope'"):
        resolve_sources(settings)
