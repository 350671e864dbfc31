"""The escalation matrix at work (core/escalation.py): PagerDuty for Critical alerts, and
escalation to `slack_escalation` of Critical and High alerts left unacknowledged.

Each alert DAG runs one sweep task (`alerting.groups.escalation_sweep`) once its checks decided.
It reconciles every alert state of the catalog's checks (all DAGs', global and per
organization) with the two channels, through the delivery protocol of alerting/state.py (which
alone decides what is due: `page_action`, `escalation_due`):

- PagerDuty (connection `pagerduty_events`, optional): `trigger` with dedup_key = alert key +
  scope when a critical alert fires, `resolve` with the same key when it clears, nothing on
  reminders. A failed call is retried by the next sweep (of any alert DAG); Slack is not involved.
- Escalation (connection `slack_escalation`, optional): one message per sweep listing the
  Critical and High alerts still firing past their response time, each escalated once per firing.

A connection that is not defined is logged as "not configured" and nothing is recorded, so
defining it later pages (or escalates) what is firing then.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from nurture_ops.alerting import notify
from nurture_ops.alerting import state as alert_state
from nurture_ops.core.catalog import CHECKS
from nurture_ops.core.escalation import (
    ESCALATION_CONN_ID,
    PAGERDUTY_CONN_ID,
    dedup_key,
    level_for,
    matrix_line,
)
from nurture_ops.core.text import fmt

log = logging.getLogger(__name__)

# Shorter than the integration's defaults: a sweep of the 5-minute DAG pages several alerts within
# its task's execution_timeout; what fails is sent by the next run.
PAGERDUTY_TIMEOUT_S = 5
PAGERDUTY_ATTEMPTS = 2


def alert_keys() -> list[str]:
    """The alert states the sweep looks at: the catalog's checks (not reports, not task failures)."""
    return [c.key for c in CHECKS.values() if c.role == "check"]


def page_event(row: dict, *, run_url: str | None, dag_id: str | None) -> dict:
    """The Events API v2 fields of one trigger (summary, severity, source, details, links). Pure."""
    check = CHECKS.get(row["alert_key"])
    title = check.title if check else row["alert_key"]
    details = {
        "alert_key": row["alert_key"],
        "scope": row["scope"] or "global",
        "summary": row.get("last_summary"),
        "first_fired_at": fmt(row.get("first_fired_at")),
        "escalation": matrix_line(level_for(row["severity"])),
    }
    if check:
        details["runbook_section"] = check.runbook_section
        details["runbook_actions"] = list(check.actions)
    if run_url:
        details["airflow_run"] = run_url
    return {
        "summary": f"[CRITICAL] {title}: {row.get('last_summary') or ''}",  # an organization's names it
        "severity": "critical",
        "source": f"nurture_ops/{dag_id or 'airflow'}",
        "custom_details": details,
        "links": [{"href": run_url, "text": "Open the Airflow run"}] if run_url else None,
    }


def page(
    conn,
    at: datetime,
    *,
    run_url: str | None,
    dag_id: str | None,
    run_id: str | None,
    deadline: float | None = None,
) -> dict:
    """Trigger and resolve PagerDuty incidents as the alert states require; raises at the end if a
    call failed (the others went out; the next sweep retries the failed one). Past `deadline`
    (time.monotonic()), no new event is started: what is left stays due for the next run, so a
    PagerDuty that times out on every call cannot run the task into its execution_timeout."""
    if not notify.connection_exists(PAGERDUTY_CONN_ID):
        due = [
            r
            for r in alert_state.delivery_candidates(conn, alert_state.PAGERDUTY, alert_keys())
            if alert_state.page_action(r)
        ]
        if due:
            log.info(
                "PagerDuty: connection %s not configured; %d page(s) not sent", PAGERDUTY_CONN_ID, len(due)
            )
        return {"pagerduty": "not configured"}
    from nurture_ops.integrations.pagerduty import PagerDutyEvents

    client = PagerDutyEvents.from_connection(
        PAGERDUTY_CONN_ID, timeout=PAGERDUTY_TIMEOUT_S, attempts=PAGERDUTY_ATTEMPTS
    )
    sent, failed, left = [], [], 0
    candidates = alert_state.delivery_candidates(conn, alert_state.PAGERDUTY, alert_keys())
    for candidate in candidates:
        if not alert_state.page_action(candidate):
            continue
        if deadline is not None and time.monotonic() > deadline:
            left += 1
            continue

        def send(claimed: list[dict]) -> str:
            (row,) = claimed
            key = dedup_key(row["alert_key"], row["scope"])
            event = page_event(row, run_url=run_url, dag_id=dag_id) if row["kind"] == "trigger" else {}
            client.send(row["kind"], key, **{k: v for k, v in event.items() if v is not None})
            return f"PagerDuty {row['kind']} {key}"

        try:
            done = alert_state.deliver_on_channel(
                conn,
                alert_state.PAGERDUTY,
                [candidate],
                alert_state.page_action,
                send,
                at=at,
                conn_id=PAGERDUTY_CONN_ID,
                dag_id=dag_id,
                run_id=run_id,
            )
        except Exception as exc:  # one failing page must not hold back the others
            log.error("PagerDuty: %s/%s not delivered: %s", candidate["alert_key"], candidate["scope"], exc)
            failed.append(str(exc))
            continue
        sent += [f"{r['kind']} {dedup_key(r['alert_key'], r['scope'])}" for r in done]
    log.info("PagerDuty: sent %s", sent or "nothing")
    if left:
        log.warning("PagerDuty: out of time for this run; %d event(s) left for the next run", left)
    if failed:
        raise RuntimeError(
            f"{len(failed)} PagerDuty event(s) not delivered (the next run retries): " + "; ".join(failed)
        )
    return {"pagerduty": sent, **({"pagerduty_left_for_next_run": left} if left else {})}


def escalate(
    conn,
    at: datetime,
    *,
    run_url: str | None,
    dag_id: str | None,
    run_id: str | None,
    levels: dict | None = None,
) -> dict:
    """One message to slack_escalation for the alerts due for escalation (once per firing);
    `levels`: the matrix with nurture_ops_escalation applied (default: the runbook's)."""
    due = [
        r
        for r in alert_state.delivery_candidates(conn, alert_state.ESCALATION, alert_keys())
        if alert_state.escalation_due(r, at, levels)
    ]
    if not due:
        return {"escalation": []}
    if not notify.connection_exists(ESCALATION_CONN_ID):
        log.warning(
            "Escalation: connection %s not configured; %d alert(s) past their response time not escalated: %s",
            ESCALATION_CONN_ID,
            len(due),
            ", ".join(f"{r['alert_key']}/{r['scope']}" for r in due),
        )
        return {"escalation": "not configured"}

    def send(claimed: list[dict]) -> str:
        rows = [
            {**r, "title": CHECKS[r["alert_key"]].title if r["alert_key"] in CHECKS else r["alert_key"]}
            for r in claimed
        ]
        message = notify.escalation_message(rows, run_url=run_url)
        notify.send(message, ESCALATION_CONN_ID)
        return message["text"]

    done = alert_state.deliver_on_channel(
        conn,
        alert_state.ESCALATION,
        due,
        lambda row: "escalate" if alert_state.escalation_due(row, at, levels) else None,
        send,
        at=at,
        conn_id=ESCALATION_CONN_ID,
        dag_id=dag_id,
        run_id=run_id,
    )
    return {"escalation": [f"{r['alert_key']}/{r['scope']}" for r in done]}


def page_database_outage(
    kind: str, outage: dict, probe: dict, *, run_url: str | None, dag_id: str | None
) -> None:
    """PagerDuty's page of Database Connection Lost (its state is a Variable: alerting.state,
    "Database Connection Lost"): trigger on fire, resolve on resolve, dedup_key the alert key."""
    from nurture_ops.integrations.pagerduty import PagerDutyEvents

    check = CHECKS["database_connection_lost"]
    client = PagerDutyEvents.from_connection(
        PAGERDUTY_CONN_ID, timeout=PAGERDUTY_TIMEOUT_S, attempts=PAGERDUTY_ATTEMPTS
    )
    if kind == "resolve":
        client.send("resolve", check.key)
        return
    if kind != "fire":  # no reminders: PagerDuty re-notifies by its own escalation policy
        return
    row = {
        "alert_key": check.key,
        "scope": "",
        "severity": "critical",
        "first_fired_at": outage.get("first_failed_at"),
        "last_summary": check.summary.format(**{"error_class": "?", "error": "?", **probe}),
    }
    event = page_event(row, run_url=run_url, dag_id=dag_id)
    client.send("trigger", check.key, **{k: v for k, v in event.items() if v is not None})
