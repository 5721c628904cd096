"""The live incident card: what it shows (``CardView``, read from the database) and its blocks.

One card per incident, pinned in its channel and edited in place on every change. The view is
read in the caller's session so the card always shows committed state; rendering is pure.
Alerts are read from the incident's ``alert*`` timeline events (the alert intake records which
alerts joined, fired again, resolved...: ``data.alerts`` with fingerprint, title, severity), so
the card needs no import of the alert domain and shows what the timeline says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.authz.people import Directory
from bot.incident.domain import OPEN_STATUSES, Role, Status
from bot.incident.flows import snapshot
from bot.incident.models import Incident, TimelineEvent
from bot.incident.schemas import IncidentOut
from bot.slack import blocks as bk
from bot.slack.ids import ActionId, BlockId

LATEST_ALERTS = 3
#: Alert timeline events read for the card (the latest; a storm has its own umbrella incident).
ALERT_EVENTS_READ = 500
#: Timeline kinds after which an alert no longer fires.
ALERT_ENDED = frozenset({"alert_resolved", "alert_expired", "alerts_resolved"})
MAX_RUNBOOK_BUTTONS = 5
SEVERITY_EMOJI = {"SEV1": ":red_circle:", "SEV2": ":large_orange_circle:", "SEV3": ":large_yellow_circle:"}
STATUS_EMOJI = {
    Status.TRIGGERED: ":rotating_light:",
    Status.INVESTIGATING: ":mag:",
    Status.IDENTIFIED: ":dart:",
    Status.MITIGATED: ":adhesive_bandage:",
    Status.RESOLVED: ":white_check_mark:",
    Status.CLOSED: ":lock:",
}


@dataclass(frozen=True)
class AlertLine:
    at: datetime
    text: str
    resolved: bool


@dataclass(frozen=True)
class AlertSummary:
    total: int
    firing: int
    latest: tuple[AlertLine, ...]


@dataclass(frozen=True)
class CardView:
    incident: IncidentOut
    alerts: AlertSummary
    runbooks: tuple[str, ...]
    link: str
    #: Slack ids of configured people holding a role (the card mentions them).
    slack_ids: dict[str, str] = field(default_factory=dict)


def summarize_alerts(events: list[TimelineEvent]) -> AlertSummary:
    """Each alert's last known state from ``alert*`` events (oldest first); events without
    ``data.alerts`` count as one alert each, described by their text."""
    state: dict[str, AlertLine] = {}
    for event in events:
        ended = event.kind in ALERT_ENDED or "resolved" in event.kind
        alerts = event.data.get("alerts")
        if not isinstance(alerts, list) or not alerts:
            state[f"event:{event.id}"] = AlertLine(event.at, event.text, ended)
            continue
        for alert in alerts:
            if isinstance(alert, dict):
                key = str(alert.get("fingerprint") or alert.get("title"))
                severity = f" ({alert['severity']})" if alert.get("severity") else ""
                state.pop(key, None)  # re-insert: dicts keep the order of the last change
                state[key] = AlertLine(event.at, f"{alert.get('title', key)}{severity}", ended)
    lines = list(state.values())
    return AlertSummary(
        total=len(lines),
        firing=sum(1 for line in lines if not line.resolved),
        latest=tuple(reversed(lines[-LATEST_ALERTS:])),
    )


async def load_card(
    session: AsyncSession,
    incident: Incident,
    *,
    public_url: str,
    runbooks: tuple[str, ...] = (),
    people: Directory | None = None,
) -> CardView:
    """Everything the card shows, from committed rows. ``runbooks`` adds engine suggestions."""
    assert incident.id is not None
    query = (
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident.id, col(TimelineEvent.kind).startswith("alert"))
        .order_by(col(TimelineEvent.id).desc())
        .limit(ALERT_EVENTS_READ)
    )
    events = list(reversed((await session.exec(query)).all()))
    suggested = tuple(dict.fromkeys([*incident.suggested_runbooks, *runbooks]))
    out = await snapshot(session, incident)
    holders = [h.assignee for h in out.roles.values()]
    slack_ids = {p: s for p in holders if people is not None and (s := people.slack_id(p))}
    return CardView(
        incident=out,
        alerts=summarize_alerts(events),
        runbooks=suggested,
        link=f"{public_url.rstrip('/')}/api/v1/incidents/{incident.ref}",
        slack_ids=slack_ids,
    )


def card_text(view: CardView) -> str:
    """The notification / fallback text of the card."""
    i = view.incident
    return f"{i.ref} [{i.severity.value} · {i.status.value}] {i.title}"


def slack_date(moment: datetime) -> str:
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def runbook_value(ref: str, runbook: str) -> str:
    return json.dumps({"incident": ref, "runbook": runbook}, separators=(",", ":"))


def _roles(view: CardView) -> str:
    lines = []
    for role in Role:
        holder = view.incident.roles.get(role.value)
        who = bk.mention(view.slack_ids.get(holder.assignee, holder.assignee)) if holder else "_unassigned_"
        lines.append(f"{role.display}: {who}")
    return "*Roles*\n" + "\n".join(lines)


def _alerts(view: CardView) -> str:
    summary = view.alerts
    if not summary.total:
        return "*Alerts*: none attached"
    lines = [
        f"{':white_check_mark:' if a.resolved else ':bell:'} {slack_date(a.at)} {bk.escape(a.text)}"
        for a in summary.latest
    ]
    return f"*Alerts*: {summary.firing} firing of {summary.total} (latest first)\n" + "\n".join(lines)


def _runbook_blocks(view: CardView) -> list[bk.Block]:
    if not view.runbooks:
        return []
    out = [bk.section("*Suggested runbooks*: plan is a dry run; run asks for confirmation")]
    for index, name in enumerate(view.runbooks[:MAX_RUNBOOK_BUTTONS]):
        value = runbook_value(view.incident.ref, name)
        run_confirm = bk.confirm(
            f"Run {name}?"[:100],
            f"This runs `{bk.escape(name)}` on {view.incident.ref} and changes systems.",
            ok="Run",
        )
        out.append(
            bk.actions(
                f"{BlockId.CARD_RUNBOOKS.value}.{index}",
                bk.button(f"Plan {name}", ActionId.RUNBOOK_PLAN, value),
                bk.button(
                    f"Run {name}", ActionId.RUNBOOK_RUN, value, style="danger", confirmation=run_confirm
                ),
            )
        )
    return out


def _buttons(view: CardView) -> list[bk.Block]:
    i = view.incident
    elements = []
    if i.acknowledged_at is None and i.status in OPEN_STATUSES:
        elements.append(bk.button("Acknowledge", ActionId.ACKNOWLEDGE, i.ref, style="primary"))
    if i.status in OPEN_STATUSES:
        elements.append(bk.button("Take commander", ActionId.TAKE_COMMANDER, i.ref))
        elements.append(
            bk.button(
                "Resolve",
                ActionId.RESOLVE,
                i.ref,
                style="danger",
                confirmation=bk.confirm(f"Resolve {i.ref}?", "Mark the incident resolved.", ok="Resolve"),
            )
        )
    return [bk.actions(BlockId.CARD_ACTIONS.value, *elements)] if elements else []


def render_card(view: CardView) -> list[bk.Block]:
    i = view.incident
    sev = SEVERITY_EMOJI.get(i.severity.value, ":white_circle:")
    fields = [
        f"*Status*\n{STATUS_EMOJI[i.status]} {i.status.value}",
        f"*Severity*\n{sev} {i.severity.value}",
        f"*Declared*\n{slack_date(i.declared_at)} by {bk.mention(i.declared_by)}",
    ]
    if i.models:
        fields.append("*Models*\n" + ", ".join(f"`{bk.escape(m)}`" for m in i.models))
    if i.services:
        fields.append("*Services*\n" + ", ".join(f"`{bk.escape(s)}`" for s in i.services))
    card: list[bk.Block] = [bk.header(f"{i.ref}: {i.title}", BlockId.CARD_HEADER.value)]
    if i.summary:
        card.append(bk.section(bk.escape(bk.truncate(i.summary, 600))))
    card += [
        bk.section(fields=fields, block_id=BlockId.CARD_FIELDS.value),
        bk.section(_roles(view), block_id=BlockId.CARD_ROLES.value),
        bk.section(_alerts(view), block_id=BlockId.CARD_ALERTS.value),
        *_runbook_blocks(view),
        *_buttons(view),
        bk.context(f"{bk.link(view.link, 'Incident in the API')} · updated {slack_date(i.updated_at)}"),
    ]
    return card
