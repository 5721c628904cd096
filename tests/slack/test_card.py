"""The card's blocks: what it shows per state, escaping, Block Kit limits; alerts from the timeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.auth.actor import SYSTEM
from bot.db import Database
from bot.incident import flows, service, timeline
from bot.incident.domain import Role, Severity, Status
from bot.incident.schemas import IncidentCreate, IncidentOut, RoleHolder
from bot.slack import blocks as bk
from bot.slack.card import AlertSummary, CardView, card_text, load_card, render_card
from bot.slack.ids import ActionId, BlockId
from tests.access import OPEN
from tests.slack.conftest import API

AT = datetime(2026, 3, 9, 3, 12, tzinfo=UTC)


def incident(**changes: Any) -> IncidentOut:
    base: dict[str, Any] = {
        "ref": "INC-7",
        "title": "Fraud model latency",
        "summary": "",
        "severity": Severity.SEV2,
        "status": Status.TRIGGERED,
        "models": ["fraud-detector"],
        "services": [],
        "labels": {},
        "origin": "alert",
        "declared_by": "incident-bot",
        "responders": [],
        "notify_channel": None,
        "suggested_runbooks": [],
        "roles": {},
        "chat_channel_id": "C1",
        "chat_channel_name": "inc-7",
        "created_at": AT,
        "updated_at": AT,
        "detected_at": AT,
        "declared_at": AT,
        "acknowledged_at": None,
        "mitigated_at": None,
        "resolved_at": None,
        "closed_at": None,
        "allowed_transitions": [],
    }
    return IncidentOut(**{**base, **changes})


def view(runbooks: tuple[str, ...] = (), **changes: Any) -> CardView:
    return CardView(
        incident=incident(**changes), alerts=AlertSummary(0, 0, ()), runbooks=runbooks, link="https://b/x"
    )


def action_ids(blocks: list[bk.Block]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def all_text(blocks: list[bk.Block]) -> str:
    return json.dumps(blocks)


def test_a_new_incident_offers_acknowledge_take_commander_resolve() -> None:
    blocks = render_card(view())
    assert action_ids(blocks) == [ActionId.ACKNOWLEDGE, ActionId.TAKE_COMMANDER, ActionId.RESOLVE]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "INC-7: Fraud model latency", "emoji": True},
        "block_id": BlockId.CARD_HEADER,
    }
    assert card_text(view()) == "INC-7 [SEV2 · triggered] Fraud model latency"


def test_buttons_follow_the_state() -> None:
    acked = render_card(view(status=Status.INVESTIGATING, acknowledged_at=AT))
    assert action_ids(acked) == [ActionId.TAKE_COMMANDER, ActionId.RESOLVE]
    resolved = render_card(view(status=Status.RESOLVED, acknowledged_at=AT, resolved_at=AT))
    assert action_ids(resolved) == []


def test_roles_are_mentions_and_unassigned_is_said() -> None:
    holder = RoleHolder(role=Role.COMMANDER, assignee="U0ABC", assigned_at=AT, assigned_by="ana")
    blocks = render_card(view(roles={"commander": holder}))
    roles = next(b for b in blocks if b.get("block_id") == BlockId.CARD_ROLES)["text"]["text"]
    assert "Incident commander: <@U0ABC>" in roles and "Scribe: _unassigned_" in roles


def test_people_and_alert_text_cannot_ping_or_inject_links() -> None:
    blocks = render_card(view(summary="<!channel> see <https://evil|here> & more", models=["<!here>"]))
    text = all_text(blocks)
    assert "<!channel>" not in text and "<!here>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt; see &lt;https://evil|here&gt; &amp; more" in text


def test_limits_of_block_kit() -> None:
    long = view(runbooks=tuple(f"runbook-{i}" for i in range(9)), title="x" * 300)
    blocks = render_card(long)
    assert len(blocks[0]["text"]["text"]) == bk.HEADER_MAX
    runbook_rows = [b for b in blocks if b.get("block_id", "").startswith(BlockId.CARD_RUNBOOKS)]
    assert len(runbook_rows) == 5  # the first five suggestions
    assert len({b["block_id"] for b in blocks if "block_id" in b}) == len(
        [b for b in blocks if "block_id" in b]
    )
    for row in runbook_rows:
        plan, run = row["elements"]
        assert (plan["action_id"], run["action_id"]) == (ActionId.RUNBOOK_PLAN, ActionId.RUNBOOK_RUN)
        assert "confirm" in run and "confirm" not in plan
        assert len(plan["text"]["text"]) <= bk.BUTTON_TEXT_MAX


def alert(fingerprint: str, title: str, severity: str = "critical") -> dict[str, str]:
    return {"fingerprint": fingerprint, "title": title, "source": "alertmanager", "severity": severity}


async def test_alerts_come_from_the_timeline(db: Database) -> None:
    """The alert intake's events: which alerts joined, fired again, resolved (data.alerts)."""
    out = await flows.declare_incident(db, IncidentCreate(title="drift"), API, authz=OPEN)
    history = [
        ("alert_joined", [alert("a", "FraudLatencyHigh"), alert("b", "FraudErrorRate <5%>", "warning")]),
        ("alert_joined", [alert("c", "FeatureStoreLag")]),
        ("alert_resolved", [alert("a", "FraudLatencyHigh")]),
        ("alert_refired", [alert("b", "FraudErrorRate <5%>", "warning")]),
        ("alert_flapping", []),  # no alert list: the event counts as one, by its text
    ]
    async with db.transaction() as session:
        row = await service.get_incident(session, out.ref, for_update=True)
        for kind, alerts in history:
            data = {"count": len(alerts), "alerts": alerts} if alerts else {}
            await timeline.record(session, row, kind=kind, text=f"{kind} happened", actor=SYSTEM, data=data)
    async with db.session() as session:
        row = await service.get_incident(session, out.ref)
        card = await load_card(session, row, public_url="https://bot", runbooks=("a", "b"))
    assert (card.alerts.total, card.alerts.firing) == (4, 3)
    assert [(a.text, a.resolved) for a in card.alerts.latest] == [
        ("alert_flapping happened", False),
        ("FraudErrorRate <5%> (warning)", False),
        ("FraudLatencyHigh (critical)", True),
    ]
    alerts = next(b for b in render_card(card) if b.get("block_id") == BlockId.CARD_ALERTS)["text"]["text"]
    assert alerts.startswith("*Alerts*: 3 firing of 4 (latest first)")
    assert "FraudErrorRate &lt;5%&gt; (warning)" in alerts
    assert card.link == "https://bot/api/v1/incidents/INC-1"
    assert card.runbooks == ("a", "b")
