"""Resolution, reopening, flapping and expiry of alerts, as seen on incidents."""

from __future__ import annotations

from typing import Any

from bot.auth.actor import SYSTEM
from bot.incident import flows
from bot.incident.domain import Status
from bot.incident.schemas import IncidentUpdate
from tests.alert.conftest import Bot, BotFactory, am_payload, ml_alert

GROUP = {"alertname": "ErrorRate", "model": "fraud"}


def _am(*instances: str, status: str = "firing", starts: str = "2026-11-20T03:00:00Z") -> dict[str, Any]:
    alerts = [
        {
            "status": status,
            "labels": {**GROUP, "instance": i},
            "startsAt": starts,
            "endsAt": "2026-11-20T03:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        }
        for i in instances
    ]
    return am_payload(alerts, group=GROUP)


async def test_every_alert_resolved_notes_it_and_moves_to_mitigated(bot: Bot) -> None:
    await bot.send("alertmanager", _am("a", "b"))
    await bot.send("alertmanager", _am("a", status="resolved"))
    (incident,) = await bot.incidents()
    assert incident.status == Status.TRIGGERED
    assert await bot.timeline("INC-1", ("alerts_resolved",)) == []
    await bot.send("alertmanager", _am("b", status="resolved"))
    (incident,) = await bot.incidents()
    assert incident.status == Status.MITIGATED and incident.mitigated_at is not None
    kinds = await bot.kinds("INC-1")
    assert kinds == [
        "declared",
        "alert_joined",
        "alert_resolved",
        "alert_resolved",
        "alerts_resolved",
        "status_changed",
    ]
    (done,) = await bot.timeline("INC-1", ("alerts_resolved",))
    assert done.text == "All 2 alerts of INC-1 resolved"
    # Told apart from a runbook's verification (mitigated_by: runbook).
    (moved,) = await bot.timeline("INC-1", ("status_changed",))
    assert moved.data["mitigated_by"] == "alerts" and moved.data["reason"] == "every alert resolved"
    alerts = await bot.alerts()
    assert {a.status for a in alerts} == {"resolved"}
    assert all(a.ends_at is not None and a.ends_at.isoformat() == "2026-11-20T03:30:00+00:00" for a in alerts)


async def test_without_auto_mitigate_the_status_stays(bot_factory: BotFactory) -> None:
    async with bot_factory(resolution={"auto_mitigate": False}) as bot:
        await bot.send("alertmanager", _am("a"))
        await bot.send("alertmanager", _am("a", status="resolved"))
        (incident,) = await bot.incidents()
        assert incident.status == Status.TRIGGERED
        assert len(await bot.timeline("INC-1", ("alerts_resolved",))) == 1


async def test_firing_again_on_a_mitigated_incident_reinvestigates(bot: Bot) -> None:
    await bot.send("alertmanager", _am("a"))
    await bot.send("alertmanager", _am("a", status="resolved"))
    await bot.send("alertmanager", _am("a", starts="2026-11-20T04:00:00Z"))
    (incident,) = await bot.incidents()
    assert incident.status == Status.INVESTIGATING
    assert len(await bot.timeline("INC-1", ("alert_refired",))) == 1


async def test_a_retried_old_firing_notification_does_not_refire(bot: Bot) -> None:
    """Alertmanager retries are not ordered: the firing of an episode after its resolve is stale."""
    await bot.send("alertmanager", _am("a"))
    await bot.send("alertmanager", _am("a", status="resolved"))
    await bot.send("alertmanager", _am("a"))
    (alert,) = await bot.alerts()
    assert alert.status == "resolved" and alert.count == 3
    (incident,) = await bot.incidents()
    assert incident.status == Status.MITIGATED


async def _resolve_incident(bot: Bot) -> None:
    await flows.update_incident(
        bot.runtime.db, "INC-1", IncidentUpdate(status=Status.RESOLVED), SYSTEM, authz=bot.runtime.authz
    )


async def test_a_resolved_incident_reopens_when_its_group_fires_again(bot: Bot) -> None:
    await bot.send("alertmanager", _am("a"))
    await bot.send("alertmanager", _am("a", status="resolved"))
    await _resolve_incident(bot)
    await bot.send("alertmanager", _am("a", starts="2026-11-20T05:00:00Z"))
    (incident,) = await bot.incidents()
    assert incident.status == Status.INVESTIGATING
    assert (await bot.kinds("INC-1"))[-2:] == ["reopened", "alert_refired"]


async def test_on_resolved_new_opens_another_incident(bot_factory: BotFactory) -> None:
    async with bot_factory(grouping={"on_resolved": "new"}) as bot:
        await bot.send("alertmanager", _am("a"))
        await bot.send("alertmanager", _am("a", status="resolved"))
        await _resolve_incident(bot)
        await bot.send("alertmanager", _am("a", starts="2026-11-20T05:00:00Z"))
        first, second = await bot.incidents()
        assert first.status == Status.RESOLVED and second.status == Status.TRIGGERED
        (alert,) = await bot.alerts()
        assert alert.incident_id == 2
        assert len(await bot.timeline("INC-2", ("alert_joined",))) == 1


async def test_an_old_resolved_incident_is_not_reopened(bot_factory: BotFactory) -> None:
    async with bot_factory(grouping={"reopen_within_s": 3600}) as bot:
        await bot.send("alertmanager", _am("a"))
        await _resolve_incident(bot)
        bot.clock.advance(hours=2)
        await bot.send("alertmanager", _am("b"))
        first, second = await bot.incidents()
        assert first.status == Status.RESOLVED and second.status == Status.TRIGGERED


async def test_a_closed_incident_is_never_reopened(bot: Bot) -> None:
    await bot.send("alertmanager", _am("a"))
    await _resolve_incident(bot)
    await flows.update_incident(
        bot.runtime.db, "INC-1", IncidentUpdate(status=Status.CLOSED), SYSTEM, authz=bot.runtime.authz
    )
    await bot.send("alertmanager", _am("b"))
    assert [i.status for i in await bot.incidents()] == [Status.CLOSED, Status.TRIGGERED]


async def test_flapping_is_noted_once_and_the_status_stops_following_until_it_calms(
    bot_factory: BotFactory,
) -> None:
    async with bot_factory(flapping={"max_changes": 3, "window_s": 600}) as bot:
        await bot.send("alertmanager", _am("a"))
        statuses = ["resolved", "firing", "resolved", "firing", "resolved", "firing", "resolved"]
        for n, status in enumerate(statuses):
            bot.clock.advance(seconds=10)
            await bot.send("alertmanager", _am("a", status=status, starts=f"2026-11-20T{4 + n:02d}:00:00Z"))
        (alert,) = await bot.alerts()
        assert alert.flapping and alert.status == "resolved"
        kinds = await bot.kinds("INC-1")
        assert kinds.count("alert_flapping") == 1
        # Every change is recorded (the fourth and later marked flapping)...
        assert kinds.count("alert_resolved") == 4 and kinds.count("alert_refired") == 3
        notes = await bot.timeline("INC-1", ("alert_refired", "alert_resolved", "alert_flapping"))
        flapping = [e for e in notes if e.data["alerts"][0].get("flapping")]
        assert len(flapping) == 5 and flapping[-1].text.endswith(", flapping)")
        # ...but the status no longer follows: it stays as it was when the flapping started.
        (incident,) = await bot.incidents()
        assert incident.status == Status.MITIGATED
        assert kinds.count("status_changed") == 3  # mitigated, investigating, mitigated; then none
        await bot.sweep(seconds=300)
        (alert,) = await bot.alerts()
        assert alert.flapping
        await bot.sweep(seconds=400)
        (alert,) = await bot.alerts()
        assert not alert.flapping
        tail = (await bot.kinds("INC-1"))[-2:]
        assert tail == ["alert_flapping_stopped", "alerts_resolved"]


async def test_a_flapping_alert_that_opens_a_new_incident_is_followed_there(
    bot_factory: BotFactory,
) -> None:
    """INC-1 is closed; the alert's next firing, the one that makes it flap, opens INC-2: the
    flapping and the alert resolving after it are INC-2's news, not the closed INC-1's."""
    async with bot_factory(flapping={"max_changes": 5, "window_s": 1800}) as bot:
        await bot.send("alertmanager", _am("a"))
        for n, status in enumerate(["resolved", "firing", "resolved", "firing", "resolved"]):
            bot.clock.advance(seconds=10)
            await bot.send("alertmanager", _am("a", status=status, starts=f"2026-11-20T{4 + n:02d}:00:00Z"))
        await _resolve_incident(bot)
        await flows.update_incident(
            bot.runtime.db, "INC-1", IncidentUpdate(status=Status.CLOSED), SYSTEM, authz=bot.runtime.authz
        )
        closed_kinds = await bot.kinds("INC-1")

        bot.clock.advance(seconds=10)
        await bot.send("alertmanager", _am("a", starts="2026-11-20T10:00:00Z"))  # sixth change
        (alert,) = await bot.alerts()
        assert alert.flapping and alert.incident_id == 2
        assert await bot.kinds("INC-1") == closed_kinds  # nothing more on the closed incident
        assert (await bot.kinds("INC-2"))[:3] == ["declared", "alert_joined", "alert_flapping"]

        bot.clock.advance(seconds=10)
        await bot.send("alertmanager", _am("a", status="resolved", starts="2026-11-20T10:00:00Z"))
        (resolved,) = await bot.timeline("INC-2", ("alert_resolved",))
        assert resolved.data["alerts"][0]["status"] == "resolved"
        assert resolved.data["alerts"][0]["flapping"] is True


async def test_an_alert_not_sent_again_in_time_expires(bot: Bot) -> None:
    await bot.send("generic", ml_alert(expires_in_s=900))
    await bot.sweep(seconds=600)
    await bot.send("generic", ml_alert(expires_in_s=900))  # re-sent: the clock restarts
    await bot.sweep(seconds=800)
    (alert,) = await bot.alerts()
    assert alert.status == "firing"
    await bot.sweep(seconds=101)
    (alert,) = await bot.alerts()
    assert alert.status == "resolved" and alert.expires_at is None
    kinds = await bot.kinds("INC-1")
    assert kinds[-3:] == ["alert_expired", "alerts_resolved", "status_changed"]
    (expired,) = await bot.timeline("INC-1", ("alert_expired",))
    assert expired.text.startswith(
        "Alert expired (not sent again in time): Feature table user_features stale"
    )


async def test_an_expiry_too_far_away_never_expires(bot: Bot) -> None:
    await bot.send("generic", ml_alert(expires_in_s=2**70))
    (alert,) = await bot.alerts()
    assert alert.expires_at is None and alert.status == "firing"
    assert not [row for row in await bot.inbox() if row.failed]


async def test_the_processor_purges_old_processed_inbox_rows(bot_factory: BotFactory) -> None:
    async with bot_factory(processor={"sweep_interval_s": 3600, "inbox_retention_s": 3600}) as bot:
        await bot.send("alertmanager", _am("a"))
        await bot.sweep(seconds=1800)
        assert len(await bot.inbox()) == 1
        await bot.sweep(seconds=1900)
        assert await bot.inbox() == []
        assert len(await bot.alerts()) == 1
