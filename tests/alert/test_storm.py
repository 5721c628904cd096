"""Alert storms: past the new-groups-per-minute limit, groups attach to one umbrella incident."""

from __future__ import annotations

import asyncio

from tests.alert.conftest import Bot, BotFactory, am_payload


def _group(n: int) -> dict[str, object]:
    group = {"alertname": "Down", "model": f"model-{n}"}
    return am_payload(
        [{"labels": {**group, "instance": "a"}}, {"labels": {**group, "instance": "b"}}], group=group
    )


async def _post_groups(bot: Bot, count: int) -> None:
    responses = await asyncio.gather(*(bot.post("alertmanager", _group(n)) for n in range(count)))
    assert {r.status_code for r in responses} == {202}
    await bot.settled()


async def test_more_than_the_limit_of_new_groups_attach_to_one_umbrella(bot_factory: BotFactory) -> None:
    async with bot_factory(storm={"new_groups_per_minute": 5, "responders": ["@sre"]}) as bot:
        await _post_groups(bot, 12)
        incidents = await bot.incidents()
        assert len(incidents) == 6  # five groups opened their own, then the umbrella
        umbrella = [i for i in incidents if i.labels.get("alert_storm") == "true"]
        assert len(umbrella) == 1
        assert umbrella[0].title == "Alert storm: more than 5 new alert groups in a minute"
        assert umbrella[0].severity.value == "SEV2" and umbrella[0].responders == ["@sre"]
        groups = await bot.groups()
        assert sum(g.storm for g in groups) == 7
        umbrella_id = int(umbrella[0].ref.removeprefix("INC-"))
        assert sum(a.incident_id == umbrella_id for a in await bot.alerts()) == 14
        joined = await bot.timeline(umbrella[0].ref, ("alert_joined",))
        assert sum(e.data["count"] for e in joined) == 14
        # A minute later the rate is back under the limit: a new group opens its own incident.
        bot.clock.advance(minutes=2)
        await bot.send("alertmanager", _group(100))
        assert len(await bot.incidents()) == 7


async def test_an_open_umbrella_keeps_collecting_storm_groups(bot_factory: BotFactory) -> None:
    async with bot_factory(storm={"new_groups_per_minute": 2}) as bot:
        await _post_groups(bot, 4)
        assert len(await bot.incidents()) == 3
        bot.clock.advance(seconds=5)
        await bot.send("alertmanager", _group(50))
        assert len(await bot.incidents()) == 3


async def test_storm_detection_can_be_disabled(bot_factory: BotFactory) -> None:
    async with bot_factory(storm={"new_groups_per_minute": 0}) as bot:
        await _post_groups(bot, 25)
        assert len(await bot.incidents()) == 25


async def test_default_limit_is_twenty_groups_a_minute(bot: Bot) -> None:
    await _post_groups(bot, 25)
    incidents = await bot.incidents()
    assert len(incidents) == 21
    assert sum(i.labels.get("alert_storm") == "true" for i in incidents) == 1
