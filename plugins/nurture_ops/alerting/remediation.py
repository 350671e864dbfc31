"""Guarded remediation: count -> mode and cap -> apply -> audit -> re-check.

Every data-changing fix of the package goes through `guarded()`:
1. count what would change;
2. mode (apply / dry_run / off, from the Variable nurture_ops_remediation, default from the
   catalog) and a row cap per run: over the cap nothing changes and the result says how to run
   it by hand;
3. apply in one transaction with its audit row (nurture_ops.remediation_audit), so a change is
   never without its record;
4. re-check and report the outcome, which goes into the alert's message.

The bounce fix (`invalidate_hard_bounce_leads`, runbook Issue 3) on top of that:

- It never undoes a human's fix. A hard bounce counts against a lead only when its send went out
  (actual_send_time, else created_at) at or after `leads.metadata.email_valid_since`, the lead's
  last reset, and, when the SendGrid bounce event names the address (email_events 'bounce' or
  'dropped', payload.email), to the lead's current `leads.email`. Soft bounces never count. When
  ops fix a lead's address they run include/sql/remediation/reset_lead_email.sql (new email,
  `email_invalid = false`, `email_valid_since = now`); bounces of the old address then no longer
  count, a bounce of the new one does. No marker: every hard bounce counts (as before); a marker
  that is no ISO 8601 timestamp: none does, the lead is left alone. include/sql/remediation/
  count_hard_bounce_leads.sql documents the rule; the daily check's metrics use the same one.
- The cap bounds the change itself. The count lists the ids of the leads and enrollments it
  counted (one snapshot); the change touches those ids only, so a run never changes more rows
  than it counted and held to the cap, and rows arriving after the count wait for the next run.
  Enrollments completed are the counted open ones of leads marked in the run or still marked
  invalid. Each row is re-checked when it is locked, and a row someone else holds is skipped
  (`FOR UPDATE SKIP LOCKED`), never waited for: a lead reset after the count, or being reset,
  stays as the human leaves it. The audit row's rows_changed is what changed; the re-check
  says how many counted rows were skipped.
"""

from __future__ import annotations

import functools
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


@dataclass(frozen=True)
class Steps:
    """What one remediation does under `guarded()`: count, apply, re-check; `detail` for its audit."""

    count: Callable[[Any], int]
    apply: Callable[[Any], int]
    recheck: Callable[[Any], str] | None
    detail: dict | None = None


def runner(steps: Callable[[RunInfo, int, dict | None], Steps]) -> Callable[..., dict]:
    """Turn `steps(run, max_rows, check_params) -> Steps` into a RUNNERS entry, called as
    runner(conn, spec, *, mode, max_rows, run, reason, alert_key, check_params=None): the steps
    run under `guarded()`."""

    @functools.wraps(steps)
    def run_remediation(
        conn,
        spec: Remediation,
        *,
        mode: str,
        max_rows: int,
        run: RunInfo,
        reason: str,
        alert_key: str,
        check_params: dict | None = None,
        **_: Any,
    ) -> dict:
        planned = steps(run, max_rows, check_params)
        return guarded(
            conn,
            spec,
            mode=mode,
            max_rows=max_rows,
            count=planned.count,
            apply=planned.apply,
            recheck=planned.recheck,
            reason=reason,
            run=run,
            alert_key=alert_key,
            detail=planned.detail,
        )

    return run_remediation


@runner
def pause_sender_workflow(run: RunInfo, max_rows: int, check_params: dict | None) -> Steps:
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

    return Steps(count, apply, recheck, detail={"workflow": SENDER})


class HardBounceFix:
    """The steps of `invalidate_hard_bounce_leads` for `guarded()`, bounded by what was counted.

    count   lists, in one snapshot, the leads the rule names and the open enrollments to complete
            (remediation/select_hard_bounce_targets.sql): the ids only when within the cap;
    apply   changes those ids and no others (remediation/invalidate_hard_bounce_targets.sql), each
            re-checked under its row lock, skipping rows someone else holds; returns how many
            rows changed, never more than were counted;
    recheck what changed, what is left (remediation/count_hard_bounce_leads.sql), and how many
            counted rows were skipped.
    """

    def __init__(self, *, max_rows: int, changed_at: datetime):
        self.max_rows = max_rows
        self.changed_at = changed_at
        self.counted: dict[str, Any] = {}
        self.leads: list[int] = []
        self.enrollments: list[int] = []

    @property
    def rows_counted(self) -> int:
        return int(self.counted.get("leads_to_invalidate") or 0) + int(
            self.counted.get("enrollments_to_complete") or 0
        )

    def count(self, conn) -> int:
        self.counted = db.fetch_one(
            conn, "remediation/select_hard_bounce_targets.sql", {"max_rows": self.max_rows}
        )
        return self.rows_counted

    def apply(self, conn) -> int:
        lead_ids, enrollment_ids = self.counted.get("lead_ids"), self.counted.get("enrollment_ids")
        if lead_ids is None or enrollment_ids is None:
            raise RuntimeError("HardBounceFix.apply needs a count within the cap first")
        changed = db.fetch_all(
            conn,
            "remediation/invalidate_hard_bounce_targets.sql",
            {
                "changed_at": self.changed_at,
                "lead_ids": list(lead_ids),
                "enrollment_ids": list(enrollment_ids),
            },
        )
        self.leads = [r["id"] for r in changed if r["changed"] == "lead"]
        self.enrollments = [r["id"] for r in changed if r["changed"] == "enrollment"]
        return len(changed)

    def recheck(self, conn) -> str:
        row = db.fetch_one(conn, "remediation/count_hard_bounce_leads.sql")
        message = (
            f"{len(self.leads):,} leads marked email_invalid, {len(self.enrollments):,} enrollments completed "
            f"(invalid_email); left to do: {row['leads_to_invalidate']} leads, {row['enrollments_to_complete']} "
            "enrollments"
        )
        skipped = self.rows_counted - len(self.leads) - len(self.enrollments)
        if skipped:
            message += (
                f"; {skipped:,} counted rows skipped (changed or held by someone else meanwhile, "
                "e.g. a lead being fixed)"
            )
        return message


@runner
def invalidate_hard_bounce_leads(run: RunInfo, max_rows: int, check_params: dict | None) -> Steps:
    """Runbook Issue 3: mark hard-bounced leads invalid, complete their enrollments (soft: never).

    Only hard bounces sent since the lead's last reset (metadata.email_valid_since) and to its
    current address count; the change touches only the rows counted (see the module docstring).
    """
    fix = HardBounceFix(max_rows=max_rows, changed_at=run.evaluated_at)
    return Steps(fix.count, fix.apply, fix.recheck)


@runner
def recompute_missing_analytics(run: RunInfo, max_rows: int, check_params: dict | None) -> Steps:
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

    return Steps(count, apply, recheck, detail={"window": f"{start.isoformat()}..{day.isoformat()}"})


# remediation key -> runner(conn, spec, *, mode, max_rows, run, reason, alert_key, check_params) -> result
RUNNERS: dict[str, Callable[..., dict]] = {
    "pause_sender_workflow": pause_sender_workflow,
    "invalidate_hard_bounce_leads": invalidate_hard_bounce_leads,
    "recompute_missing_analytics": recompute_missing_analytics,
}


# ---- Approved over the cap: capped batches (nurture_remediation_approval) ------------------------
# Over its cap a fix changes nothing in the alert DAG, which asks for approval instead (alerting.
# approval). Once a human approves, the approval DAG applies it here in batches of at most the cap,
# each batch through `guarded()`: counted and listed in one snapshot, applied to those rows only, in
# one transaction with its audit row (reason: who approved), then re-checked. It stops when nothing
# is left, when the rows approved have been counted into batches (rows arriving after the approval
# wait for the next alert), or when a single unit exceeds the cap.


class HardBounceBatchFix(HardBounceFix):
    """One capped batch of the bounce fix: whole leads in id order with their enrollments
    (remediation/select_hard_bounce_batch.sql); apply and re-check are the daily fix's."""

    def count(self, conn) -> int:
        self.counted = db.fetch_one(
            conn, "remediation/select_hard_bounce_batch.sql", {"max_rows": self.max_rows}
        )
        return int(self.counted["batch_rows"])

    @property
    def rows_counted(self) -> int:
        return int(self.counted.get("batch_rows") or 0)


# remediation key -> a batch of it (max_rows, changed_at) -> object with count / apply / recheck
BATCHED: dict[str, Callable[..., Any]] = {
    "invalidate_hard_bounce_leads": HardBounceBatchFix,
}


def sample_targets(conn, spec: Remediation, size: int = 10) -> dict:
    """A few rows the fix would change (for the approval request): the first batch of `size`."""
    if spec.key not in BATCHED:
        return {}
    first = BATCHED[spec.key](max_rows=size, changed_at=None)
    first.count(conn)
    return {
        "lead_ids": list(first.counted["lead_ids"]),
        "enrollment_ids": list(first.counted["enrollment_ids"]),
    }


def apply_in_batches(
    conn,
    spec: Remediation,
    *,
    cap: int,
    approved_rows: int,
    approved_by: str,
    run: RunInfo,
    alert_key: str | None = None,
) -> dict:
    """Apply an approved fix in batches of at most `cap` rows, each with its audit row; returns
    {batches, rows_changed, rows_counted, stopped, results}. Needs a non-autocommit connection:
    each batch (change + audit) is one transaction."""
    if spec.key not in BATCHED:
        raise ValueError(f"{spec.key} cannot be applied in batches; known: {', '.join(BATCHED)}")
    if cap < 1 or approved_rows < 1:
        raise ValueError("cap and approved_rows must be positive")
    results: list[dict] = []
    counted_total = changed_total = 0
    stopped = "every approved row was counted into a batch"
    max_batches = -(-approved_rows // cap) + 1
    for number in range(1, max_batches + 1):
        budget = min(cap, approved_rows - counted_total)
        fix = BATCHED[spec.key](max_rows=budget, changed_at=run.evaluated_at)
        result = guarded(
            conn,
            spec,
            mode="apply",
            max_rows=cap,
            count=fix.count,
            apply=fix.apply,
            recheck=fix.recheck,
            reason=f"approved over the cap by {approved_by}: batch {number} (up to {cap:,} rows)",
            run=run,
            alert_key=alert_key,
            detail={"batch": number, "approved_rows": approved_rows, "approved_by": approved_by},
        )
        results.append(result)
        counted_total += result["rows_counted"] or 0
        changed_total += result["rows_changed"]
        if result["outcome"] == "nothing_to_change":
            too_big = fix.counted.get("first_too_big_lead")
            if too_big is None:
                stopped = "nothing left to change"
            elif budget < cap:
                stopped = f"the {approved_rows:,} rows approved are done (the rest waits for the next alert)"
            else:
                stopped = f"lead {too_big} alone has more rows than the cap of {cap:,}: fix it by hand"
            break
        if counted_total >= approved_rows:
            break
    return {
        "key": spec.key,
        "title": spec.title,
        "batches": len(results),
        "rows_counted": counted_total,
        "rows_changed": changed_total,
        "stopped": stopped,
        "results": results,
    }
