"""Per-organization alerts of a check, inside its check group (core/per_organization.py).

    measure   the check's GROUP BY organization_id query, beside its global one (same task)
    decide    after the global alert's decision: each organization's own alert state (scope = its
              id) through state.record; inhibited while the global alert of the check fires
    notify    one grouped Slack message per check and run for the organizations that started
              firing, still fire at reminder time, or resolved (state.deliver_group)

Only organizations that fire now, or fired before, are recorded: an ok organization without a
firing state writes nothing, so a run with 100 organizations and a few firing touches a few rows.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from nurture_ops.alerting import notify
from nurture_ops.alerting import state as alert_state
from nurture_ops.alerting.measure import measure_params
from nurture_ops.core import db
from nurture_ops.core.catalog import Check
from nurture_ops.core.evaluate import SEVERITY_RANK, Finding
from nurture_ops.core.per_organization import evaluate_organization, spec_for
from nurture_ops.core.text import plain

log = logging.getLogger(__name__)

XCOM_KEY = "organization_decisions"


def run_measure(conn, check: Check, at: datetime) -> list[dict] | None:
    """One row per organization with volume in the check's window (None: not a per-organization check)."""
    spec = spec_for(check.key)
    if spec is None:
        return None
    _, params = measure_params(check, at)
    return [plain(dict(row)) for row in db.fetch_all(conn, spec.sql, params)]


def decide(
    conn,
    settings,
    check: Check,
    rows: list[dict] | None,
    *,
    evaluated_at: datetime,
    repeat_interval: timedelta,
    global_firing: bool,
) -> list[dict]:
    """Record each organization's evaluation; the due ones as [{"decision", "finding"}] (XCom)."""
    spec = spec_for(check.key)
    if spec is None or rows is None:
        return []
    org_settings = settings.organization_settings(check.key)
    known = alert_state.organization_scopes(conn, check.key)
    inhibitor = check.key if global_firing else None
    due = []
    for row in rows:
        finding = evaluate_organization(check, spec, row, org_settings)
        if not finding.firing and finding.scope not in known:
            continue  # ok (or too little volume) and never fired: nothing to record
        decision = alert_state.record(
            conn,
            finding,
            evaluated_at=evaluated_at,
            repeat_interval=repeat_interval,
            inhibitor_firing=inhibitor,
        )
        log.info(
            "%s [%s]: %s -> %s (%s)",
            check.title,
            finding.summary,
            finding.status,
            decision.kind,
            decision.reason,
        )
        if decision.due:
            due.append({"decision": decision.to_dict(), "finding": finding.to_dict()})
    return due


def notify_group(
    conn, check: Check, entries: list[dict], *, run_url: str | None, dag_id: str | None, run_id: str | None
) -> str:
    """Send the run's grouped message for the due organizations; returns what happened."""
    decisions = [alert_state.Decision.from_dict(e["decision"]) for e in entries]
    findings = {e["finding"]["scope"]: Finding.from_dict(e["finding"]) for e in entries}
    firing = [f.status for d in decisions if d.kind != "resolve" for f in (findings[d.scope],)]
    # Where the alerts went: the worst firing severity, or for resolves alone the severity Slack heard.
    heard = [d.seen_notified_severity or check.severity for d in decisions]
    worst = max(firing or heard, key=lambda s: SEVERITY_RANK.get(s, 0))
    conn_id = notify.route(worst)
    # What operators did on these organizations (Lead Nurture page) since their last message; an
    # action on every scope at once is reported by the global alert's message.
    actions: dict[str, list[dict]] = {}
    for scope in findings:
        actions[scope] = [
            a for a in alert_state.unannounced_actions(conn, check.key, scope) if a["scope"] == scope
        ]
    sent = alert_state.deliver_group(
        conn,
        decisions,
        lambda claimed: notify.organization_group_message(
            check,
            [(d, findings[d.scope]) for d in claimed],
            run_url=run_url,
            operator_actions=[a for d in claimed for a in actions.get(d.scope, [])],
        ),
        lambda message: notify.send(message, conn_id),
        severities={scope: f.status if f.firing else None for scope, f in findings.items()},
        slack_conn_id=conn_id,
        dag_id=dag_id,
        run_id=run_id,
        values={scope: f.metrics for scope, f in findings.items()},
    )
    if not sent:
        return "per organization: already sent, or being sent, by an overlapping run"
    announced = [a["id"] for d in sent for a in actions.get(d.scope, [])]
    alert_state.mark_actions_announced(conn, announced, at=datetime.fromisoformat(sent[0].evaluated_at))
    return f"per organization: {len(sent)} organization(s) in one message"
