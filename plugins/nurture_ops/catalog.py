"""Every check of the runbook, as data.

A check is: a stable key, the runbook's own title, its cadence and severity, the SQL file that
measures it (one row of named metric columns, plus an optional `details` jsonb column), its
thresholds with the runbook's defaults, how to word its value, the runbook's action steps,
which other alerts make it a mere consequence (inhibition), and an optional remediation.

To add a check: one entry here, one `.sql` file, one test (see README, "Adding a check").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

Severity = Literal["critical", "warning"]
Direction = Literal["above", "below"]


@dataclass(frozen=True)
class Threshold:
    """Alert when `metric` is above (or below) `alert`; `target` is the runbook's goal.

    Where the runbook gives both (the KPI table), past `target` is a warning and past `alert`
    is the check's severity; a check with only `alert` fires at its own severity.
    """

    metric: str
    direction: Direction
    alert: float
    target: float | None = None
    unit: str = "%"


@dataclass(frozen=True)
class DetailList:
    """How to print the offender rows of the measure SQL's `details` column.

    `key` picks a list from a details object (None when `details` is the list itself); `line`
    is a format string over one row's fields.
    """

    title: str
    line: str
    key: str | None = None


@dataclass(frozen=True)
class Check:
    key: str
    title: str
    cadence: str
    severity: Severity
    sql: str
    thresholds: tuple[Threshold, ...]
    summary: str
    actions: tuple[str, ...]
    runbook_section: str
    lookback: timedelta | None = None
    params: dict[str, float] = field(default_factory=dict)
    details: tuple[DetailList, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    remediation: str | None = None
    diagnosis: tuple[str, ...] = ()

    @property
    def metrics(self) -> set[str]:
        return {t.metric for t in self.thresholds}


@dataclass(frozen=True)
class Remediation:
    """A runbook fix the package may apply. Modes: apply, dry_run, off (Variable overrides).

    Data fixes documented by the runbook default to `apply`; anything acting on an external
    system defaults to `off`. `max_rows` caps one run: over it nothing changes and ops are told
    how to run it by hand.
    """

    key: str
    title: str
    default_mode: Literal["apply", "dry_run", "off"]
    max_rows: int
    description: str
    manual_steps: tuple[str, ...] = ()


SCHEDULER = "Lead Nurture - Message Scheduler"
SENDER = "Lead Nurture - Email Sender"

DATABASE_CONNECTION_LOST = Check(
    key="database_connection_lost",
    title="Database Connection Lost",
    cadence="5min",
    severity="critical",
    sql="checks/alerts_5min/probe_database.sql",
    thresholds=(),
    summary="the lead-nurture database is unreachable ({error_class}: {error})",
    runbook_section="2. Monitoring & Alerts › Critical Alerts › Database Connection Lost",
    actions=(
        "Check Supabase status",
        "Verify database credentials haven't changed",
        "Test connection from N8n credentials page",
        "Check database connection pool not exhausted",
        "Restart N8n to reset connections",
    ),
)

HIGH_EMAIL_FAILURE_RATE = Check(
    key="high_email_failure_rate",
    title="High Email Failure Rate",
    cadence="5min",
    severity="critical",
    sql="checks/alerts_5min/measure_email_failure_rate.sql",
    lookback=timedelta(minutes=5),
    thresholds=(Threshold("failure_rate", "above", alert=10.0),),
    summary="{failure_rate}% of {total} emails failed in the last 5 minutes",
    details=(
        DetailList(
            "Top organizations by failures", "{organization_name}: {failed} of {total}", "organizations"
        ),
        DetailList("Top failure reasons", "{failure_reason}: {failed}", "failure_reasons"),
    ),
    runbook_section="2. Monitoring & Alerts › Critical Alerts › High Email Failure Rate",
    actions=(
        "Check SendGrid API status: https://status.sendgrid.com",
        "Verify API key hasn't been revoked",
        "Check rate limits haven't been exceeded",
        "Review error logs in Email Sender workflow",
        "If SendGrid is down, pause sender workflow temporarily",
    ),
    remediation="pause_sender_workflow",
)

WORKFLOW_EXECUTION_STOPPED = Check(
    key="workflow_execution_stopped",
    title="Workflow Execution Stopped",
    cadence="15min",
    severity="critical",
    sql="checks/alerts_15min/measure_workflow_executions.sql",
    lookback=timedelta(minutes=15),
    thresholds=(Threshold("stopped_workflows", "above", alert=0, unit=""),),
    summary="{stopped_workflows} workflow(s) without an execution in the last 15 minutes: {stopped_names}",
    details=(DetailList("Last execution per workflow", "{workflow_name}: {last_run_text}"),),
    runbook_section="2. Monitoring & Alerts › Critical Alerts › Workflow Execution Stopped",
    actions=(
        "Check N8n service is running",
        "Verify workflows are activated (green toggle)",
        "Check N8n logs for errors",
        "Restart N8n if necessary",
        "Manually trigger workflows to catch up",
    ),
    params={"workflow_scheduler": SCHEDULER, "workflow_sender": SENDER},
)

EMAILS_STUCK_QUEUED = Check(
    key="emails_stuck_queued",
    title="Emails Stuck in Queued Status",
    cadence="15min",
    severity="critical",
    sql="checks/alerts_15min/measure_stuck_queued_emails.sql",
    thresholds=(Threshold("stuck_emails", "above", alert=0, unit=""),),
    summary="{stuck_emails} emails queued and scheduled more than {stuck_after_minutes} minutes ago "
    "(oldest scheduled {oldest_minutes} minutes ago)",
    params={"stuck_after_minutes": 60},
    details=(
        DetailList(
            "Failure reasons of the last day (runbook diagnosis)",
            "{failure_reason}: {failed}",
            "failure_reasons",
        ),
        DetailList("Stuck emails per organization", "{organization_name}: {stuck}", "organizations"),
    ),
    diagnosis=(
        f"Blame: the {SENDER} workflow sends queued emails; if it has stopped, the "
        "Workflow Execution Stopped alert holds this one back",
        "If rate limited: reduce N8N_MAX_EMAILS_PER_MINUTE",
        "If authentication failed: update the SendGrid API key",
        "If the workflow stopped: reactivate it",
        "If no clear issue: manually trigger the sender workflow",
    ),
    runbook_section="3. Common Issues › Issue 1: Emails Stuck in Queued Status",
    actions=(
        "Check if Email Sender workflow is active",
        "Check SendGrid API key validity",
        "Review sender workflow execution history",
        "Check for rate limiting",
    ),
    inhibited_by=("workflow_execution_stopped",),
)

OVERDUE_ENROLLMENTS = Check(
    key="overdue_enrollments",
    title="Overdue Enrollments",
    cadence="15min",
    severity="warning",
    sql="checks/alerts_15min/measure_overdue_enrollments.sql",
    thresholds=(Threshold("overdue_enrollments", "above", alert=0, unit=""),),
    summary="{overdue_enrollments} active enrollments are more than {grace_minutes} minutes past next_send_at",
    params={"grace_minutes": 15},
    details=(DetailList("Overdue per organization", "{organization_name}: {overdue}"),),
    runbook_section="1. Daily Operations › Morning Health Check › 2. Check active enrollments",
    actions=(
        f"Check the {SCHEDULER} workflow is active and running every minute",
        "Review the scheduler's execution history and errors in N8n",
        "Manually trigger the scheduler to catch up",
    ),
    inhibited_by=("workflow_execution_stopped",),
)

CHECKS: dict[str, Check] = {
    c.key: c
    for c in (
        DATABASE_CONNECTION_LOST,
        HIGH_EMAIL_FAILURE_RATE,
        WORKFLOW_EXECUTION_STOPPED,
        EMAILS_STUCK_QUEUED,
        OVERDUE_ENROLLMENTS,
    )
}

REMEDIATIONS: dict[str, Remediation] = {
    r.key: r
    for r in (
        Remediation(
            key="pause_sender_workflow",
            title="Pause the Email Sender workflow",
            default_mode="off",
            max_rows=1,
            description=f"Deactivate '{SENDER}' through the N8n REST API (runbook: 'If SendGrid is down, "
            "pause sender workflow temporarily')",
            manual_steps=(
                f"In N8n, open '{SENDER}' and switch its Active toggle off",
                "Reactivate it once SendGrid is healthy (status.sendgrid.com)",
            ),
        ),
    )
}


def checks_for(cadence: str) -> list[Check]:
    return [c for c in CHECKS.values() if c.cadence == cadence]


def get_check(key: str) -> Check:
    try:
        return CHECKS[key]
    except KeyError:
        raise KeyError(f"Unknown check {key!r}; known checks: {', '.join(sorted(CHECKS))}") from None
