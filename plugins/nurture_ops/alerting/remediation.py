"""Guarded remediation: count -> mode and cap -> apply -> audit -> re-check.

Every data-changing fix of the package goes through `guarded()`:
1. count what would change;
2. mode (apply / dry_run / off, from the Variable nurture_ops_remediation, default from the
   catalog) and a row cap per run: over the cap nothing changes and the result says how to run
   it by hand;
3. apply in one transaction with its audit row (nurture_ops.remediation_audit), so a change is
   never without its record;
4. re-check and report the outcome, which goes into the alert's message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nurture_ops.alerting.state import SCHEMA, ensure_schema
from nurture_ops.core import analytics, db
from nurture_ops.core.catalog import SENDER, Remediation
from nurture_ops.core.windows import previous_day

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunInfo:
    """Who is acting, for the audit trail."""

    dag_id: str | None
    run_id: str | None
    task_id: str | None
    evaluated_at: datetime


def audit(
    conn,
    spec: Remediation,
    *,
    mode: str,
    outcome: str,
    rows_counted: int | None,
    rows_changed: int,
    reason: str,
    detail: dict,
    run: RunInfo,
    alert_key: str | None,
) -> None:
    db.execute(
        conn,
        "ops/insert_remediation_audit.sql",
        {
            "remediation_key": spec.key,
            "alert_key": alert_key,
            "mode": mode,
            "outcome": outcome,
            "rows_counted": rows_counted,
            "rows_changed": rows_changed,
            "reason": reason,
            "detail": json.dumps(detail, default=str),
            "dag_id": run.dag_id,
            "run_id": run.run_id,
            "task_id": run.task_id,
            "evaluated_at": run.evaluated_at,
        },
        schema=SCHEMA,
    )


def guarded(
    conn,
    spec: Remediation,
    *,
    mode: str,
    max_rows: int,
    count: Callable[[Any], int],
    apply: Callable[[Any], int],
    recheck: Callable[[Any], str] | None,
    reason: str,
    run: RunInfo,
    alert_key: str | None = None,
    detail: dict | None = None,
) -> dict:
    """Run one remediation under its guards; returns a small result for XCom and the message."""
    ensure_schema(conn)
    detail = dict(detail or {})
    result = {"key": spec.key, "title": spec.title, "mode": mode, "rows_counted": None, "rows_changed": 0}

    def finish(outcome: str, message: str, rows_counted: int | None, rows_changed: int = 0) -> dict:
        audit(
            conn,
            spec,
            mode=mode,
            outcome=outcome,
            rows_counted=rows_counted,
            rows_changed=rows_changed,
            reason=reason,
            detail={**detail, "message": message},
            run=run,
            alert_key=alert_key,
        )
        if not conn.autocommit:
            conn.commit()
        log.info("Remediation %s: %s (%s)", spec.key, outcome, message)
        return {
            **result,
            "outcome": outcome,
            "message": message,
            "rows_counted": rows_counted,
            "rows_changed": rows_changed,
        }

    if mode == "off":
        return finish("off", "remediation is off; nothing was changed", None)
    counted = count(conn)
    if counted == 0:
        return finish("nothing_to_change", "nothing needed changing", 0)
    if counted > max_rows:
        steps = "; ".join(spec.manual_steps) if spec.manual_steps else "run the remediation SQL by hand"
        message = (
            f"{counted:,} rows would change, over the cap of {max_rows:,} per run: nothing was changed. "
            f"Review, then {steps}, or raise the cap with "
            f'{{"{spec.key}": {{"max_rows": {counted}}}}} in the Variable nurture_ops_remediation.'
        )
        return finish("over_cap", message, counted)
    if mode == "dry_run":
        return finish("dry_run", f"dry run: {counted:,} rows would change; nothing was changed", counted)
    changed = apply(conn)
    outcome = finish("applied", f"{changed:,} rows changed", counted, changed)
    if recheck is not None:
        outcome["recheck"] = recheck(conn)
    return outcome


def pause_sender_workflow(
    conn, spec: Remediation, *, mode: str, max_rows: int, run: RunInfo, reason: str, alert_key: str, **_
) -> dict:
    """Runbook: 'If SendGrid is down, pause sender workflow temporarily' (N8n REST API)."""
    from nurture_ops.integrations.n8n import N8nClient

    client = N8nClient.from_connection()
    found: dict[str, Any] = {}

    def count(_conn) -> int:
        workflow = client.find_workflow(SENDER)
        if workflow is None:
            raise LookupError(f"N8n has no workflow named {SENDER!r}; check the n8n_api connection")
        found.update(workflow)
        return 1 if workflow.get("active") else 0

    def apply(_conn) -> int:
        client.deactivate_workflow(found["id"])
        return 1

    def recheck(_conn) -> str:
        after = client.get_workflow(found["id"])
        return f"'{SENDER}' is now {'active' if after.get('active') else 'inactive'} in N8n"

    return guarded(
        conn,
        spec,
        mode=mode,
        max_rows=max_rows,
        count=count,
        apply=apply,
        recheck=recheck,
        reason=reason,
        run=run,
        alert_key=alert_key,
        detail={"workflow": SENDER},
    )


def invalidate_hard_bounce_leads(
    conn, spec: Remediation, *, mode: str, max_rows: int, run: RunInfo, reason: str, alert_key: str, **_
) -> dict:
    """Runbook Issue 3: mark hard-bounced leads invalid, complete their enrollments (soft: never)."""
    changed: dict[str, int] = {}

    def count(c) -> int:
        row = db.fetch_one(c, "remediation/count_hard_bounce_leads.sql")
        changed["leads_counted"] = row["leads_to_invalidate"]
        return int(row["leads_to_invalidate"]) + int(row["enrollments_to_complete"])

    def apply(c) -> int:
        params = {"changed_at": run.evaluated_at}
        changed["leads"] = len(db.fetch_all(c, "remediation/mark_hard_bounce_leads_invalid.sql", params))
        changed["enrollments"] = len(
            db.fetch_all(c, "remediation/complete_invalid_email_enrollments.sql", params)
        )
        return changed["leads"] + changed["enrollments"]

    def recheck(c) -> str:
        row = db.fetch_one(c, "remediation/count_hard_bounce_leads.sql")
        return (
            f"{changed['leads']:,} leads marked email_invalid, {changed['enrollments']:,} enrollments completed "
            f"(invalid_email); left to do: {row['leads_to_invalidate']} leads, {row['enrollments_to_complete']} "
            "enrollments"
        )

    return guarded(
        conn,
        spec,
        mode=mode,
        max_rows=max_rows,
        count=count,
        apply=apply,
        recheck=recheck,
        reason=reason,
        run=run,
        alert_key=alert_key,
    )


def recompute_missing_analytics(
    conn,
    spec: Remediation,
    *,
    mode: str,
    max_rows: int,
    run: RunInfo,
    reason: str,
    alert_key: str,
    check_params: dict | None = None,
) -> dict:
    """Runbook Issue 5: recompute the missing campaign_analytics days (the rollup's one code path)."""
    lookback_days = int(
        (check_params or {}).get("lookback_days", 14)
    )  # the check's window, overrides included
    day = previous_day(run.evaluated_at)
    start = day - timedelta(days=lookback_days - 1)
    missing: list = []

    def count(c) -> int:
        missing.extend(analytics.missing_analytics_days(c, start, day))
        return len(missing)

    def apply(c) -> int:
        for missing_day in missing:
            analytics.rollup_day(c, missing_day, run.evaluated_at)
        return len(missing)

    def recheck(c) -> str:
        left = analytics.missing_analytics_days(c, start, day)
        filled = ", ".join(d.isoformat() for d in missing)
        return f"filled {filled}; days still missing: {len(left)}"

    return guarded(
        conn,
        spec,
        mode=mode,
        max_rows=max_rows,
        count=count,
        apply=apply,
        recheck=recheck,
        reason=reason,
        run=run,
        alert_key=alert_key,
        detail={"window": f"{start.isoformat()}..{day.isoformat()}"},
    )


# remediation key -> runner(conn, spec, *, mode, max_rows, run, reason, alert_key) -> result
RUNNERS: dict[str, Callable[..., dict]] = {
    "pause_sender_workflow": pause_sender_workflow,
    "invalidate_hard_bounce_leads": invalidate_hard_bounce_leads,
    "recompute_missing_analytics": recompute_missing_analytics,
}
