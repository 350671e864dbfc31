"""The doc_md of nurture_weekly_review: the weekly checklist, each part's target (the defaults the
review's functions use), the runbook's actions, and the workflow backup.

The targets are read from the signatures of `logic.slow_queries`, `logic.scheduler_performance`
and `logic.sender_performance`: the numbers the review applies are the ones documented.
"""

from __future__ import annotations

import inspect

from nurture_ops.core.catalog import SCALING_GUIDELINES, SENDGRID_DELIVERABILITY
from nurture_ops.core.docs import (
    checklist,
    code,
    compose,
    md_table,
    numbered,
    scaling_steps,
    section,
    value_text,
)
from nurture_ops.core.settings import BACKUP_SUBDIR, BACKUP_URL_VARIABLE, THRESHOLDS_VARIABLE
from nurture_ops.integrations.n8n import API_PREFIX, N8N_CONN_ID
from nurture_ops.integrations.sendgrid import SENDGRID
from nurture_ops.weekly_review.deliverability import COMPARISONS
from nurture_ops.weekly_review.logic import SCHEDULER_ADVICE, SENDER_ADVICE, SLOW_QUERY_ADVICE
from nurture_ops.weekly_review.logic import scheduler_performance as _scheduler
from nurture_ops.weekly_review.logic import sender_performance as _sender
from nurture_ops.weekly_review.logic import slow_queries as _slow_queries

# Runbook 7 "Weekly": what this DAG does (and with which tasks), then what is left by hand.
WEEKLY_CHECKLIST = (
    ("Review query performance", "`query_performance`, `scheduler_performance`, `sender_performance`"),
    ("Export workflow definitions", "`export_workflow_definitions`"),
    ("Review unsubscribe feedback", "`unsubscribe_feedback` (per campaign, with reasons)"),
    (
        "Check SendGrid deliverability stats",
        "`sendgrid_deliverability` (SendGrid's Stats API reconciled day by day with the database)",
    ),
)
WEEKLY_CHECKLIST_BY_HAND: tuple[str, ...] = ()


def _default(function, name: str):
    return inspect.signature(function).parameters[name].default


def targets() -> dict[str, float]:
    return {
        "slow_ms": _default(_slow_queries, "slow_ms"),
        "batch_seconds": _default(_scheduler, "batch_target_seconds"),
        "per_minute": _default(_sender, "per_minute_target"),
    }


def _tolerance() -> float:
    return next(t.alert for t in SENDGRID_DELIVERABILITY.thresholds if t.metric == "gap_percent")


def _spam():
    return next(t for t in SENDGRID_DELIVERABILITY.thresholds if t.metric == "spam_report_rate")


def deliverability_section() -> str:
    """How the reconciliation compares (weekly_review.deliverability.COMPARISONS)."""
    rows = [
        (code(kind), label, " + ".join(code(m) for m in metrics))
        for kind, label, metrics, _, _ in COMPARISONS
    ]
    return section(
        "SendGrid deliverability (runbook 7)",
        f"SendGrid's Stats API (`GET /v3/stats?aggregated_by=day`, connection {code(SENDGRID.conn_id)}, Bearer "
        "key with `stats.read`) for the 7 whole UTC days before the run's date, against the database's own "
        "counts per day (`include/sql/review/count_deliverability_by_day.sql`). A gap past the tolerance "
        f"({value_text(_tolerance())}% by default, Variable {code(THRESHOLDS_VARIABLE)} "
        f'`{{"sendgrid_deliverability": {{"gap_percent": {{"alert": 5}}}}}}`) is listed with its likely cause: '
        "fewer events than SendGrid counted means the events webhook (Event Tracker) drops them; more sends "
        "recorded than SendGrid requests means sends recorded but never handed to SendGrid. The spam-report "
        f"rate (spam reports / delivered) is a KPI: target < {value_text(_spam().target)}%, alert at "
        f"{value_text(_spam().alert)}% (the mailbox providers' bulk-sender limits). Without the connection the "
        'section says "not configured"; a failed call says "API failed: ..." and the rest of the review goes out.',
        md_table(("Kind", "Database", "SendGrid"), rows),
    )


def parts_section() -> str:
    t = targets()
    slow, batch, per_minute = (value_text(t[k]) for k in ("slow_ms", "batch_seconds", "per_minute"))
    database = SCALING_GUIDELINES["database"]
    rows = [
        (
            "`query_performance`",
            "4 Query Performance Review (`pg_stat_statements`)",
            f'mean > {slow} ms (5, {database["section"]}: "{database["trigger"]}")',
        ),
        (
            "`scheduler_performance`",
            f"4 Scheduler Performance: 1,000 enrollments in < {batch} s",
            f"a minute's batches took > {batch} s per 1,000 enrollments",
        ),
        (
            "`sender_performance`",
            f"4 Sender Performance: {per_minute} emails per minute",
            f"< LEAST({per_minute}, backlog) sent in a minute with emails waiting",
        ),
        ("`unsubscribe_feedback`", "7 Review unsubscribe feedback", "reported per campaign, with reasons"),
        (
            "`export_workflow_definitions`",
            "6 Workflow Definitions (Weekly)",
            "N8n unreachable: the task fails, the summary says so",
        ),
        (
            "`sendgrid_deliverability`",
            "7 Check SendGrid deliverability stats",
            f"a day's SendGrid count differs from ours by > {value_text(_tolerance())}% (of the larger), or "
            f"spam reports > {value_text(_spam().target)}% of delivered (alert at {value_text(_spam().alert)}%)",
        ),
    ]
    return section(
        "Parts and targets",
        checklist(WEEKLY_CHECKLIST, WEEKLY_CHECKLIST_BY_HAND, by_hand_note=", in the SendGrid dashboard"),
        md_table(("Task", "Runbook", "Flagged when"), rows),
    )


def actions_section() -> str:
    t = targets()
    return section(
        "Actions (runbook 4 and 5)",
        f"**Slow queries**: {SLOW_QUERY_ADVICE}. Consistently > {value_text(t['slow_ms'])} ms, the "
        "runbook's scaling step:",
        scaling_steps(["database"]),
        f"**Scheduler > {value_text(t['batch_seconds'])} seconds per batch**:\n\n{numbered(SCHEDULER_ADVICE)}",
        f"**Sender < {value_text(t['per_minute'])}/minute**:\n\n{numbered(SENDER_ADVICE)}",
        "**pg_stat_statements missing**: not a failure; the message says how to enable it "
        "(`shared_preload_libraries`, `CREATE EXTENSION pg_stat_statements`).",
    )


def backup_section() -> str:
    default = "file://$AIRFLOW_HOME/" + "/".join(BACKUP_SUBDIR)
    return section(
        "Workflow definitions backup (runbook 6)",
        f"Every N8n workflow (`GET {API_PREFIX}/workflows`, all pages, key from the connection "
        f"{code(N8N_CONN_ID)}) is "
        "written to `<backup URL>/<YYYY-MM-DD>/workflow-<id>.json` plus `manifest.json`; the message "
        "lists workflows changed, added, removed, (de)activated since the previous export. The backup "
        f"URL is the Variable {code(BACKUP_URL_VARIABLE)} (`file:///...`, `s3://conn@bucket/path`, "
        f"`gs://...`), default `{default}`. Exports never overwrite: a second export on a day goes to "
        "`<date>-2`. If the export fails, its failure is posted to Slack and the weekly summary still "
        "goes out, saying so: fix N8n or the connection, then clear the task. Restoring: N8n > Import "
        "from file, one workflow JSON at a time.",
    )


def doc_md(intro: str | None) -> str:
    return compose(intro, parts_section(), actions_section(), backup_section(), deliverability_section())
