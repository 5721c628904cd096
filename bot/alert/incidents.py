"""From alert groups to incidents: join, open (after min_count / min_duration), reopen, storms.

For each group touched in a transaction, once:

1. the group's incident is open → its active alerts (firing or flapping, not silenced) join it;
2. otherwise, when an active alert's routing rule opens incidents and its thresholds are met:
   reopen the group's recently resolved incident (``grouping.on_resolved: reopen``), or join
   the open incident of another group with the same label key (``model=...``), or attach to
   the alert-storm umbrella when more than ``storm.new_groups_per_minute`` groups opened in
   the last minute, or declare a new incident.

At the end, incidents whose alerts all resolved get one timeline event (the chat layer
announces it) and, with ``resolution.auto_mitigate``, move to mitigated.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from sqlmodel import col, func, or_, select

from bot.alert.models import Alert, AlertGroup
from bot.alert.settings import RouteRule
from bot.alert.txn import AlertTxn, GroupWork
from bot.auth.actor import SYSTEM
from bot.db import after_commit
from bot.events import AutoRunRequested
from bot.incident import service as incidents
from bot.incident import timeline
from bot.incident.domain import OPEN_STATUSES, Status
from bot.incident.models import Incident
from bot.incident.schemas import IncidentCreate

_OPEN = [s.value for s in OPEN_STATUSES]
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]{0,99}$")
STORM_LABEL = "alert_storm"
STORM_WINDOW = timedelta(minutes=1)


def is_active(alert: Alert) -> bool:
    """Counts toward an incident: firing (or flapping, whatever its last status) and not silenced."""
    return (alert.status == "firing" or alert.flapping) and alert.silenced_by is None


async def settle(tx: AlertTxn) -> None:
    """Evaluate touched groups, write the coalesced notes, then the resolution outcomes.

    Group evaluation runs without autoflush so that new alerts are inserted once, already
    attached; the queries that must see them flush explicitly."""
    with tx.session.no_autoflush:
        await tx.lock_incidents({w.group.incident_id for w in tx.touched.values() if w.group.incident_id})
        for n, work in enumerate(list(tx.touched.values()), 1):
            await evaluate(tx, work)
            if n % 10 == 0:
                await asyncio.sleep(0)  # let webhook requests in between
    tx.touched.clear()
    await tx.insert_new_alerts()
    for alert in tx.flapped.values():
        if alert.incident_id is not None:
            flapping = tx.settings.flapping
            tx.notes.add(
                await tx.incident(alert.incident_id),
                "alert_flapping",
                alert,
                changes=len(alert.changes),
                window_s=flapping.window_s,
            )
    tx.flapped.clear()
    await tx.notes.flush(tx.session)
    for incident_id in sorted(tx.resolved_in):
        await _check_all_resolved(tx, incident_id)
    tx.resolved_in.clear()
    tx.refired.clear()


async def evaluate(tx: AlertTxn, work: GroupWork) -> None:
    group = work.group
    incident = await tx.incident(group.incident_id) if group.incident_id is not None else None
    if incident is not None and Status(incident.status) in OPEN_STATUSES:
        await _attach(tx, incident, [a for a in work.alerts.values() if is_active(a)])
        return
    active = await _active_alerts(tx, group)
    rule = _opening_rule(tx, active)
    if rule is None or not _due(tx, rule, active):
        return
    reopened = await _reopen(tx, incident, active)
    target = (
        reopened
        or await _join_label_group(tx, group)
        or await _storm(tx, group)
        or await _open(tx, group, rule, active)
    )
    await _attach(tx, target, active)
    if reopened is not None:
        # The runbook domain decides: once per incident, so it says why it does not start again.
        _request_auto_runs(tx, reopened, rule, reopened=True)


async def _active_alerts(tx: AlertTxn, group: AlertGroup) -> list[Alert]:
    """The group's active alerts: stored ones, then those first seen in this transaction."""
    await tx.session.flush()
    fresh = [a for a in tx.new_alerts.values() if a.group_id == group.id and is_active(a)]
    rows = await tx.session.exec(
        select(Alert)
        .where(
            Alert.group_id == group.id,
            or_(Alert.status == "firing", col(Alert.flapping).is_(True)),
            col(Alert.silenced_by).is_(None),
        )
        .order_by(col(Alert.id))
    )
    return [*rows, *fresh]


def _opening_rule(tx: AlertTxn, active: list[Alert]) -> RouteRule | None:
    for alert in active:
        rule = tx.settings.rule_named(alert.route)
        if rule.open_incident:
            return rule
    return None


def _due(tx: AlertTxn, rule: RouteRule, active: list[Alert]) -> bool:
    if not rule.waits:
        return True
    if rule.min_count is not None and len(active) >= rule.min_count:
        return True
    if rule.min_duration_s is not None:
        started = min(a.starts_at or a.first_seen_at for a in active)
        return tx.now - started >= timedelta(seconds=rule.min_duration_s)
    return False


async def _attach(tx: AlertTxn, incident: Incident, alerts: list[Alert]) -> None:
    changed = False
    for alert in alerts:
        if alert.incident_id != incident.id:
            alert.incident_id = incident.id
            tx.notes.add(incident, "alert_joined", alert)
            changed = True
        elif alert.fingerprint in tx.refired:
            tx.notes.add(incident, "alert_refired", alert)
            # A flapping alert firing again does not take the incident's mitigation back.
            changed = changed or not alert.flapping
    if changed and incident.status == Status.MITIGATED and tx.settings.resolution.auto_mitigate:
        await incidents.change_status(
            tx.session, incident, Status.INVESTIGATING, SYSTEM, reason="alerts firing again"
        )


async def _reopen(tx: AlertTxn, incident: Incident | None, active: list[Alert]) -> Incident | None:
    grouping = tx.settings.grouping
    if incident is None or incident.status != Status.RESOLVED or grouping.on_resolved != "reopen":
        return None
    if incident.resolved_at is None or tx.now - incident.resolved_at > timedelta(
        seconds=grouping.reopen_within_s
    ):
        return None
    await incidents.change_status(
        tx.session, incident, Status.INVESTIGATING, SYSTEM, reason=f"alert firing again: {active[0].title}"
    )
    return incident


async def _join_label_group(tx: AlertTxn, group: AlertGroup) -> Incident | None:
    """The open incident of another group with the same label key (e.g. model=fraud-detector)."""
    if group.label_key is None:
        return None
    await tx.session.flush()
    found = (
        await tx.session.exec(
            select(AlertGroup.incident_id)
            .join(Incident, col(Incident.id) == col(AlertGroup.incident_id))
            .where(
                AlertGroup.label_key == group.label_key,
                AlertGroup.id != group.id,
                col(Incident.status).in_(_OPEN),
            )
            .order_by(col(Incident.id).desc())
            .limit(1)
        )
    ).first()
    if found is None:
        return None
    group.incident_id = found
    return await tx.incident(found)


async def _storm(tx: AlertTxn, group: AlertGroup) -> Incident | None:
    threshold = tx.settings.storm.new_groups_per_minute
    if threshold == 0:
        return None
    since = tx.now - STORM_WINDOW
    await tx.session.flush()  # the groups opened so far in this transaction count
    recent = (await tx.session.exec(select(func.count()).where(col(AlertGroup.opened_at) >= since))).one()
    if recent < threshold:
        return None
    umbrella_id = (
        await tx.session.exec(
            select(AlertGroup.incident_id)
            .join(Incident, col(Incident.id) == col(AlertGroup.incident_id))
            .where(col(AlertGroup.storm).is_(True), col(Incident.status).in_(_OPEN))
            .order_by(col(AlertGroup.opened_at).desc())
            .limit(1)
        )
    ).first()
    if umbrella_id is not None:
        umbrella = await tx.incident(umbrella_id)
    else:
        storm = tx.settings.storm
        umbrella = await incidents.declare(
            tx.session,
            IncidentCreate(
                title=f"Alert storm: more than {threshold} new alert groups in a minute",
                summary=(
                    "Alert groups arrived faster than alerts.storm.new_groups_per_minute allows; "
                    "new groups attach here instead of opening an incident each. Groups that "
                    "opened before the storm keep their own incidents."
                ),
                severity=storm.severity,
                labels={STORM_LABEL: "true"},
                responders=storm.responders,
                notify_channel=storm.channel,
            ),
            SYSTEM,
            origin="alert",
            detected_at=tx.now,
        )
        assert umbrella.id is not None
        tx.incidents[umbrella.id] = umbrella
    group.incident_id = umbrella.id
    group.storm = True
    group.opened_at = tx.now
    return umbrella


async def _open(tx: AlertTxn, group: AlertGroup, rule: RouteRule, active: list[Alert]) -> Incident:
    detected = min(a.starts_at or a.first_seen_at for a in active)
    incident = await incidents.declare(
        tx.session, incident_from_alerts(group, rule, active), SYSTEM, origin="alert", detected_at=detected
    )
    assert incident.id is not None
    tx.incidents[incident.id] = incident
    group.incident_id = incident.id
    group.opened_at = tx.now
    group.route = rule.name
    group.storm = False
    _request_auto_runs(tx, incident, rule)
    return incident


def _request_auto_runs(tx: AlertTxn, incident: Incident, rule: RouteRule, *, reopened: bool = False) -> None:
    assert incident.id is not None
    for run in rule.auto_run:
        after_commit(
            tx.session,
            AutoRunRequested(incident.id, run.runbook, dict(run.inputs), rule.name, reopened=reopened),
        )


def incident_from_alerts(group: AlertGroup, rule: RouteRule, active: list[Alert]) -> IncidentCreate:
    titles = list(dict.fromkeys(a.title.strip() for a in active if a.title.strip()))
    title = titles[0] if titles else f"Alerts of {group.label_key or group.key}"
    if len(titles) > 1:
        title = f"{title} (+{len(active) - 1} more alerts)"
    common = dict(active[0].labels)
    for alert in active[1:]:
        common = {k: v for k, v in common.items() if alert.labels.get(k) == v}
    labels = {k: v for k, v in {**common, **group.labels}.items() if _LABEL_NAME.match(k) and len(v) <= 200}
    lines = [f"- {a.title} ({a.source}, {a.severity})" for a in active[:20]]
    if len(active) > 20:
        lines.append(f"- and {len(active) - 20} more")
    return IncidentCreate(
        title=title[:300],
        summary=f"Opened by routing rule {rule.name!r} for alert group {group.key[:200]}:\n"
        + "\n".join(lines),
        severity=rule.incident_severity([a.severity for a in active]),
        models=_distinct(active, "model"),
        services=_distinct(active, "service"),
        labels=dict(list(labels.items())[:50]),
        responders=rule.responders,
        notify_channel=rule.channel,
        suggested_runbooks=rule.runbooks,
    )


def _distinct(alerts: list[Alert], label: str) -> list[str]:
    return sorted({a.labels[label][:200] for a in alerts if a.labels.get(label)})[:50]


async def _check_all_resolved(tx: AlertTxn, incident_id: int) -> None:
    counts = (
        await tx.session.exec(
            select(
                func.count(),
                func.count().filter(or_(Alert.status == "firing", col(Alert.flapping).is_(True))),
            ).where(Alert.incident_id == incident_id)
        )
    ).one()
    total, unresolved = counts
    if total == 0 or unresolved:
        return
    incident = await tx.incident(incident_id)
    await timeline.record(
        tx.session,
        incident,
        kind="alerts_resolved",
        text=f"All {total} alert{'s' if total > 1 else ''} of {incident.ref} resolved",
        actor=SYSTEM,
        data={"alerts": total},
    )
    if tx.settings.resolution.auto_mitigate and incident.status in (
        Status.TRIGGERED,
        Status.INVESTIGATING,
        Status.IDENTIFIED,
    ):
        await incidents.change_status(
            tx.session,
            incident,
            Status.MITIGATED,
            SYSTEM,
            reason="every alert resolved",
            data={"mitigated_by": "alerts"},
        )
