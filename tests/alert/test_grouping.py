"""Dedupe and grouping: sender groups, label groups, and joining an open incident."""

from __future__ import annotations

from tests.alert.conftest import Bot, BotFactory, am_payload, ml_alert


def _alert(name: str, **labels: str) -> dict[str, object]:
    return {"labels": {"alertname": name, **labels}}


async def test_one_alertmanager_group_is_one_incident_across_notifications(bot: Bot) -> None:
    group = {"alertname": "HighLatency"}
    await bot.send("alertmanager", am_payload([_alert("HighLatency", instance="a")], group=group))
    await bot.send(
        "alertmanager",
        am_payload([_alert("HighLatency", instance="a"), _alert("HighLatency", instance="b")], group=group),
    )
    (incident,) = await bot.incidents()
    alerts = await bot.alerts()
    assert len(alerts) == 2 and {a.incident_id for a in alerts} == {1}
    assert [a.count for a in alerts] == [2, 1]
    joined = await bot.timeline(incident.ref, ("alert_joined",))
    assert [e.data["count"] for e in joined] == [1, 1]  # each alert noted once, when it joined
    assert incident.labels == {"alertname": "HighLatency", "instance": "a"}


async def test_alertmanager_groups_about_the_same_model_join_its_open_incident(bot: Bot) -> None:
    await bot.send(
        "alertmanager",
        am_payload([_alert("ErrorRate", model="fraud")], group={"alertname": "ErrorRate", "model": "fraud"}),
    )
    await bot.send(
        "alertmanager",
        am_payload([_alert("Latency", model="fraud")], group={"alertname": "Latency", "model": "fraud"}),
    )
    await bot.send("generic", ml_alert(labels={"model": "fraud"}))
    (incident,) = await bot.incidents()
    assert incident.models == ["fraud"]
    assert {a.incident_id for a in await bot.alerts()} == {1}
    assert len(await bot.groups()) == 3


async def test_label_groups_use_model_then_service_then_alertname(bot: Bot) -> None:
    sends = [
        ml_alert(labels={"model": "ranker", "service": "search"}, fingerprint="a" * 16),
        ml_alert(labels={"model": "ranker", "service": "other"}, fingerprint="b" * 16),
        ml_alert(labels={"service": "search"}, fingerprint="c" * 16),
        ml_alert(labels={"service": "search", "alertname": "X"}, fingerprint="d" * 16),
        ml_alert(labels={"alertname": "X"}, fingerprint="e" * 16),
        ml_alert(labels={}, fingerprint="f" * 16),
        ml_alert(labels={}, fingerprint="0" * 16),
    ]
    for body in sends:
        await bot.send("generic", body)
    keys = [g.key for g in await bot.groups()]
    assert keys == [
        "label:model=ranker",
        "label:service=search",
        "label:alertname=X",
        f"alert:{'f' * 16}",
        f"alert:{'0' * 16}",
    ]
    incidents = await bot.incidents()
    assert len(incidents) == 5
    assert [a.incident_id for a in await bot.alerts()] == [1, 1, 2, 2, 3, 4, 5]


async def test_without_sender_groups_alertmanager_alerts_group_by_label(bot_factory: BotFactory) -> None:
    async with bot_factory(grouping={"sender_groups": False, "group_by": ["team"]}) as bot:
        await bot.send(
            "alertmanager",
            am_payload(
                [_alert("A", team="risk"), _alert("B", team="risk"), _alert("C", team="ads")],
                group={"alertname": "mixed"},
            ),
        )
        assert [g.key for g in await bot.groups()] == ["label:team=risk", "label:team=ads"]
        assert len(await bot.incidents()) == 2


async def test_same_fingerprint_through_two_senders_is_one_alert(bot: Bot) -> None:
    """The generic contract's fingerprint equals Alertmanager's for the same label set."""
    from integrations.sources.fingerprint import labelset_fingerprint

    labels = {"alertname": "Drift", "model": "churn"}
    await bot.send("alertmanager", am_payload([{"labels": labels}], group={"alertname": "Drift"}))
    await bot.send("generic", ml_alert(labels=labels, fingerprint=labelset_fingerprint(labels)))
    (alert,) = await bot.alerts()
    assert alert.count == 2 and alert.source == "generic"
    assert len(await bot.incidents()) == 1


async def test_incident_fields_come_from_the_group(bot: Bot) -> None:
    labels = {"alertname": "ErrorRate", "model": "fraud", "service": "scoring", "severity": "critical"}
    await bot.send(
        "alertmanager",
        am_payload(
            [
                {"labels": {**labels, "instance": "a"}, "startsAt": "2026-11-20T03:00:00Z"},
                {"labels": {**labels, "instance": "b"}, "startsAt": "2026-11-20T02:59:00Z"},
            ],
            group={"alertname": "ErrorRate", "model": "fraud"},
        ),
    )
    (incident,) = await bot.incidents()
    assert incident.title == "ErrorRate firing"
    assert incident.severity.value == "SEV1"
    assert incident.models == ["fraud"] and incident.services == ["scoring"]
    assert incident.labels == {**labels}
    assert incident.origin == "alert" and incident.declared_by == "incident-bot"
    assert (
        incident.detected_at is not None and incident.detected_at.isoformat() == "2026-11-20T02:59:00+00:00"
    )
    assert "ErrorRate firing (alertmanager, critical)" in incident.summary
