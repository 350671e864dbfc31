"""Every check of the runbook, as data.

A check is: a stable key, the runbook's own title, its cadence and severity, the SQL file that
measures it (one row of named metric columns, plus an optional `details` jsonb column), its
thresholds with the runbook's defaults, how to word its value, the runbook's action steps,
which other alerts make it a mere consequence (inhibition), an optional remediation, and its
role: a check group of its cadence's DAG (`checks_for`), or the database probe (`probe_for`).

To add a check: one entry here, one `.sql` file, one test (see README, "Adding a check").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

Severity = Literal["critical", "warning"]
Direction = Literal["above", "below"]
# How a DAG runs a catalog entry (see Check.role).
Role = Literal["check", "probe", "report"]


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
class Inhibition:
    """This check is a consequence of `root` while `root` fires (and, when `cause` is given, only
    while the root's summary names it: e.g. which workflow stopped)."""

    root: str
    cause: str | None = None


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
    inhibited_by: tuple[Inhibition, ...] = ()
    remediation: str | None = None
    diagnosis: tuple[str, ...] = ()
    # True for the KPI table: missing a target (not an alert level) is reported in the daily
    # digest only; a separate alert goes out only past an alert level.
    alert_level_only: bool = False
    # A metric naming what fires (e.g. which workflows stopped): when it changes while the alert
    # keeps firing, Slack hears about it at once instead of at the next reminder.
    renotify_on_change: str | None = None
    # "check": measured by its SQL in a check group (alerting.groups.check_group) of the DAG of
    # its cadence; checks_for(cadence) selects these, in catalog order, for the DAG's tasks and
    # for its docs alike. "probe": the database probe (alerting.groups.probe_database) every
    # alert DAG runs before its checks; it has no thresholds, is never a check group, and only the
    # DAG of its cadence pages about it (probe_for).
    role: Role = "check"
    # Measured through an outside API instead of SQL (alerting.api_checks): what it calls, for the
    # docs; `sql` is then empty. "report": a part of a report DAG (the weekly review) whose
    # thresholds live here, never a check group.
    source: str | None = None

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
    role="probe",
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
    renotify_on_change="stopped_names",
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
    inhibited_by=(Inhibition("workflow_execution_stopped", cause=SENDER),),
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
    inhibited_by=(Inhibition("workflow_execution_stopped", cause=SCHEDULER),),
)

# ---- Daily (runbook 1 "Daily Operations", 2 "Warning Alerts", 3 "Common Issues") ---------------
# Daily checks look at the day before the run's date (UTC): day_start/day_end, day.

KPI_LABELS = {
    "delivery_rate": "Email Delivery Rate",
    "open_rate": "Open Rate",
    "click_rate": "Click Rate",
    "unsubscribe_rate": "Unsubscribe Rate",
    "bounce_rate": "Bounce Rate",
    "scheduler_success_rate": "Scheduler Success Rate",
    "sender_success_rate": "Sender Success Rate",
}

KPI_REVIEW = Check(
    key="kpi_review",
    title="KPI Past Alert Level",
    cadence="daily",
    severity="critical",
    sql="checks/daily/measure_kpis.sql",
    # The runbook's dashboard table: target, and the level to alert at.
    thresholds=(
        Threshold("delivery_rate", "below", alert=90, target=95),
        Threshold("open_rate", "below", alert=20, target=30),
        Threshold("click_rate", "below", alert=2, target=5),
        Threshold("unsubscribe_rate", "above", alert=1, target=0.5),
        Threshold("bounce_rate", "above", alert=10, target=5),
        Threshold("scheduler_success_rate", "below", alert=95, target=99),
        Threshold("sender_success_rate", "below", alert=95, target=98),
    ),
    alert_level_only=True,
    summary="yesterday delivery {delivery_rate}%, open {open_rate}%, click {click_rate}%, "
    "unsubscribe {unsubscribe_rate}%, bounce {bounce_rate}%, scheduler {scheduler_success_rate}%, "
    "sender {sender_success_rate}% of {emails_sent} emails",
    params={"workflow_scheduler": SCHEDULER, "workflow_sender": SENDER},
    runbook_section="1. Daily Operations › Review Dashboard Metrics",
    actions=(
        "Open the daily digest for the full KPI table (value, target, status)",
        "Delivery or bounce past its level: see Issue 3 (High Bounce Rate) and SendGrid's deliverability stats",
        "Open or click past its level: see Low Engagement Rate",
        "Scheduler or sender success past its level: check N8n execution history and workflow errors",
    ),
)

LOW_ENGAGEMENT = Check(
    key="low_engagement_rate",
    title="Low Engagement Rate",
    cadence="daily",
    severity="warning",
    sql="checks/daily/measure_low_engagement.sql",
    thresholds=(Threshold("campaigns_below", "above", alert=0, unit=""),),
    params={"open_rate_alert": 20, "click_rate_alert": 2},
    summary="{campaigns_below} of {campaigns_measured} campaigns below open {open_rate_alert}% "
    "or click {click_rate_alert}% yesterday",
    details=(
        DetailList(
            "Campaigns below", "{campaign_name} ({organization_name}): open {open_rate}%, click {click_rate}%"
        ),
    ),
    runbook_section="2. Monitoring & Alerts › Warning Alerts › Low Engagement Rate",
    actions=(
        "Review campaign subject lines",
        "Check send times",
        "Analyze audience targeting",
        "Review content quality",
        "Consider A/B test variants",
    ),
)

HIGH_UNSUBSCRIBE_RATE = Check(
    key="high_unsubscribe_rate",
    title="High Unsubscribe Rate",
    cadence="daily",
    severity="warning",
    sql="checks/daily/measure_unsubscribe_rate.sql",
    thresholds=(Threshold("unsubscribe_rate", "above", alert=1),),
    summary="{unsubscribe_rate}% of {emails_sent} emails sent yesterday ({unsubscribes} unsubscribes)",
    details=(
        DetailList("Campaigns with unsubscribes", "{campaign_name} ({organization_name}): {unsubscribes}"),
    ),
    runbook_section="2. Monitoring & Alerts › Warning Alerts › High Unsubscribe Rate",
    actions=(
        "Review recent campaign content",
        "Check frequency caps",
        "Verify content relevance to audience",
        "Review feedback from unsubscribe reasons",
        "Adjust campaign strategy",
    ),
)

DUPLICATE_EMAIL_EVENTS = Check(
    key="duplicate_email_events",
    title="Duplicate Email Events",
    cadence="daily",
    severity="warning",
    sql="checks/daily/measure_duplicate_events.sql",
    # Duplicates the event_hash catches are deduplication working; the alert is for those it misses.
    thresholds=(Threshold("duplicate_rows_missed_by_hash", "above", alert=0, unit=""),),
    summary="{total_events} events yesterday: {duplicate_rows_same_hash} duplicates share an event_hash "
    "(deduplication working), {duplicate_rows_missed_by_hash} repeat a SendGrid sg_event_id under another hash",
    details=(
        DetailList(
            "Examples", "{kind}: send {email_send_id} {event_type} x{row_count} (sg_event_id {sg_event_id})"
        ),
    ),
    runbook_section="3. Common Issues › Issue 2: Duplicate Email Events",
    actions=(
        "SendGrid is sending duplicate webhook events (normal: it retries)",
        "If duplicates repeat an sg_event_id under another event_hash, event_hash is not unique enough",
        "Update the hash algorithm in the Event Tracker workflow: use SendGrid's sg_event_id",
    ),
)

HIGH_BOUNCE_RATE = Check(
    key="high_bounce_rate",
    title="High Bounce Rate",
    cadence="daily",
    severity="warning",
    sql="checks/daily/measure_bounce_rate.sql",
    thresholds=(Threshold("bounce_rate", "above", alert=5),),
    summary="{bounce_rate}% of {total} emails bounced yesterday ({hard_bounces} hard, {soft_bounces} soft); "
    "{hard_bounce_leads_to_invalidate} hard-bounced leads not yet marked invalid",
    details=(
        DetailList(
            "Leads bouncing repeatedly", "lead {lead_id} ({organization_name}): {bounce_count} bounces"
        ),
    ),
    runbook_section="3. Common Issues › Issue 3: High Bounce Rate",
    actions=(
        "Check bounce types (hard vs soft)",
        "Review email validation at lead capture",
        "Check for spam complaints",
    ),
    remediation="invalidate_hard_bounce_leads",
)

MISSING_PERSONALIZATION = Check(
    key="missing_personalization_data",
    title="Personalization Data Missing",
    cadence="daily",
    severity="warning",
    sql="checks/daily/measure_missing_personalization.sql",
    thresholds=(Threshold("leads_missing_data", "above", alert=0, unit=""),),
    summary="{leads_missing_data} leads in active enrollments miss a name ({missing_name}) or an email "
    "({missing_email}); their emails would show raw {{{{token}}}}s",
    details=(
        DetailList(
            "Per organization",
            "{organization_name}: {leads} leads ({missing_name} no name, {missing_email} no email)",
        ),
    ),
    runbook_section="3. Common Issues › Issue 4: Personalization Tokens Not Replaced",
    actions=(
        "Check Content Personalizer workflow logs",
        "Verify lead data exists",
        "Check token spelling",
        "Fill in missing data or remove the leads from campaigns",
    ),
)

ANALYTICS_NOT_UPDATING = Check(
    key="analytics_not_updating",
    title="Campaign Analytics Not Updating",
    cadence="daily",
    severity="warning",
    sql="checks/daily/measure_analytics_freshness.sql",
    thresholds=(Threshold("missing_days", "above", alert=0, unit=""),),
    params={"lookback_days": 14},
    summary="{missing_days} day(s) of the last {lookback_days} lack campaign analytics; latest analytics "
    "date {latest_analytics_date}",
    details=(
        DetailList(
            "Missing days", "{analytics_date}: {campaigns_missing} of {campaigns_with_sends} campaigns"
        ),
    ),
    runbook_section="3. Common Issues › Issue 5: Campaign Analytics Not Updating",
    actions=(
        "Check Analytics Updater workflow is active",
        "Check last execution time",
        "Review workflow logs",
        "The missing days are recomputed by the remediation (the nurture_analytics_rollup SQL)",
    ),
    remediation="recompute_missing_analytics",
)

# Runbook 5 "When to Scale", quoted as data (the weekly review and the quarterly audit name them).
SCALING_GUIDELINES: dict[str, dict[str, Any]] = {
    "database": {
        "section": "Scale Database (Supabase)",
        "trigger": "Query response time > 500ms consistently",
        "actions": (
            "Upgrade Supabase plan (more resources)",
            "Add read replicas for reporting",
            "Implement connection pooling",
            "Archive old data (> 1 year)",
        ),
    },
    "n8n": {
        "section": "Scale N8n",
        "trigger": "Workflow execution queue > 100 items",
        "actions": (
            "Upgrade to N8n Pro (more resources)",
            "Deploy multiple N8n instances",
            "Use queue mode for workflows",
            "Implement workflow-specific scaling",
        ),
    },
    "sendgrid": {
        "section": "Scale SendGrid",
        "trigger": "Hitting rate limits or want to send > 100K/day",
        "actions": (
            "Upgrade SendGrid plan",
            "Implement multiple API keys",
            "Load balance across keys",
            "Consider dedicated IP addresses",
        ),
    },
}


# Runbook 5 "When to Scale › Scale Database": "Query response time > 500ms consistently", as an
# alert of the 5-minute DAG. Its values come from the run as well as from its SQL (see
# alerting.measure.RUN_TIMING_CHECKS): the probe's latency, this check's own history of it (kept
# with its alert state), and the checks of the run that ran past their statement timeout; the SQL
# adds what the database shows of locks and long transactions. Critical at once when a check
# timed out (the check could not be evaluated: monitoring is blind there); slow probes only
# "consistently": the fastest of the last `consecutive_runs` runs past 500 ms is a warning, past
# 2 s critical.
DATABASE_RESPONDING_SLOWLY = Check(
    key="database_responding_slowly",
    title="Database Responding Slowly",
    cadence="5min",
    severity="critical",
    sql="checks/alerts_5min/measure_database_slowness.sql",
    thresholds=(
        Threshold("timed_out_checks", "above", alert=0, unit=""),
        Threshold("sustained_query_ms", "above", alert=2000, target=500, unit=" ms"),
    ),
    params={"consecutive_runs": 3, "long_transaction_seconds": 10},
    summary="the probe's SELECT 1 took {query_ms} ms (connect {connect_ms} ms), {recent_runs}; "
    "{timed_out_checks} check(s) past the {statement_timeout_s} s statement timeout{timed_out_names}",
    details=(
        DetailList(
            "Checks cancelled by their statement timeout",
            "{title}: {sql} ({error})",
            "timed_out",
        ),
        DetailList(
            "Sessions waiting on a lock or in a long transaction (pg_stat_activity)",
            "pid {pid} {application_name} ({state}, transaction open {transaction_s} s): {waiting}{holds}",
            "sessions",
        ),
    ),
    diagnosis=(
        "sustained_query_ms: the fastest of the probe's SELECT 1 round trips over the last "
        "consecutive_runs runs (the runbook's 'consistently'); timed_out_checks: this run's checks "
        "cancelled by their statement timeout",
        "A check past its statement timeout was not evaluated this run: its query waited on a lock "
        "or the database is overloaded; the sessions listed show who holds a lock (often "
        "'idle in transaction')",
        "End a stuck lock holder's transaction with its owner, or SELECT pg_terminate_backend(pid)",
        "Slow probes with no lock waits and no long transactions: the database is short of resources, "
        "see the scaling steps",
        "The weekly review lists the slowest queries (pg_stat_statements)",
    ),
    runbook_section="5. Scaling Guidelines › When to Scale › Scale Database (Supabase)",
    actions=tuple(SCALING_GUIDELINES["database"]["actions"]),
)


# ---- Outside the database: N8n's queue, Supabase's backups, SendGrid's stats --------------------

# Runbook 5 "Scale N8n": "Workflow execution queue > 100 items", counted through the N8n public API
# (executions waiting or running) every 15 minutes; counting stops once past the alert level.
N8N_EXECUTION_QUEUE_BACKLOG = Check(
    key="n8n_execution_queue_backlog",
    title="N8n Execution Queue Backlog",
    cadence="15min",
    severity="warning",
    sql="",
    source="N8n API (connection n8n_api): GET /api/v1/executions?status=waiting|running, cursor paging",
    thresholds=(Threshold("queued_executions", "above", alert=100, unit=""),),
    params={"page_size": 100},
    summary="N8n workflow executions waiting or running: {queue_text}",
    diagnosis=(
        "The runbook's scaling trigger: Workflow execution queue > 100 items",
        "Counted are executions waiting (queued, or paused in a Wait node) or running; counting stops "
        "once past the alert level, so a long queue is reported as at least that many",
        "A queue that grows while Workflow Execution Stopped fires is a stuck N8n, not load: restart it first",
    ),
    runbook_section="5. Scaling Guidelines › When to Scale › Scale N8n",
    actions=tuple(SCALING_GUIDELINES["n8n"]["actions"]),
)

# Runbook 6 "Automated Backups › Database (Daily)": "Supabase provides automatic backups. Verify",
# through Supabase's Management API, in the daily DAG. Missing: the recovery section's steps.
DATABASE_BACKUP_MISSING = Check(
    key="database_backup_missing",
    title="Database Backup Missing",
    cadence="daily",
    severity="warning",
    sql="",
    source="Supabase Management API (connection supabase_api): GET /v1/projects/{ref}/database/backups",
    thresholds=(Threshold("backup_missing", "above", alert=0, unit=""),),
    params={"max_age_hours": 26},
    summary="{backup_text}",
    runbook_section="6. Backup & Recovery › Automated Backups › Database (Daily)",
    diagnosis=(
        "Check backup status in the Supabase dashboard (Database › Backups) and Supabase status",
        "Backups are plan-based: a project on the free plan has none",
    ),
    actions=(
        "Restore Database (30 minutes): Restore from Supabase backup",
        "Verify all tables present",
        "Run schema validation queries",
    ),
)

# Runbook 7 "Weekly › Check SendGrid deliverability stats": SendGrid's Stats API reconciled day by day
# with the database (weekly review part). gap_percent: the largest gap between a SendGrid count and
# ours, in % of the larger; spam_report_rate: spam reports per delivered email, against the mailbox
# providers' bulk-sender limits (keep under 0.1%, never reach 0.3%).
SENDGRID_DELIVERABILITY = Check(
    key="sendgrid_deliverability",
    title="SendGrid Deliverability",
    cadence="weekly",
    severity="warning",
    sql="",
    role="report",
    source="SendGrid Stats API v3 (connection sendgrid_api): GET /v3/stats?aggregated_by=day",
    thresholds=(
        Threshold("gap_percent", "above", alert=2.0),
        Threshold("spam_report_rate", "above", alert=0.3, target=0.1),
    ),
    summary="{days_with_gaps} of {days} days differ from SendGrid by more than the tolerance; "
    "spam reports {spam_report_rate}% of delivered",
    runbook_section="7. Maintenance Schedule › Weekly › Check SendGrid deliverability stats",
    actions=(
        "Check SendGrid deliverability stats",
        "Sends recorded but fewer SendGrid requests: the Email Sender records sends SendGrid never accepted",
        "Fewer events recorded than SendGrid counts: the Event Tracker webhook is dropping events",
        "Spam reports past 0.1%: review list hygiene and content; at 0.3% mailbox providers block bulk senders",
    ),
)

CHECKS: dict[str, Check] = {
    c.key: c
    for c in (
        DATABASE_CONNECTION_LOST,
        HIGH_EMAIL_FAILURE_RATE,
        DATABASE_RESPONDING_SLOWLY,
        WORKFLOW_EXECUTION_STOPPED,
        EMAILS_STUCK_QUEUED,
        OVERDUE_ENROLLMENTS,
        KPI_REVIEW,
        LOW_ENGAGEMENT,
        HIGH_UNSUBSCRIBE_RATE,
        DUPLICATE_EMAIL_EVENTS,
        HIGH_BOUNCE_RATE,
        MISSING_PERSONALIZATION,
        ANALYTICS_NOT_UPDATING,
        N8N_EXECUTION_QUEUE_BACKLOG,
        DATABASE_BACKUP_MISSING,
        SENDGRID_DELIVERABILITY,
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
        Remediation(
            key="invalidate_hard_bounce_leads",
            title="Invalidate hard-bounced leads",
            default_mode="apply",
            max_rows=5000,
            description="Runbook Issue 3: mark leads with a hard bounce metadata.email_invalid = true and "
            "complete their active enrollments with completion_reason 'invalid_email' (soft bounces never)",
            manual_steps=(
                "run include/sql/remediation/mark_hard_bounce_leads_invalid.sql then "
                "complete_invalid_email_enrollments.sql with changed_at bound to now",
            ),
        ),
        Remediation(
            key="recompute_missing_analytics",
            title="Recompute missing analytics days",
            default_mode="apply",
            max_rows=31,
            description="Runbook Issue 5: recompute campaign_analytics for the missing days (the rollup's SQL)",
            manual_steps=("trigger nurture_analytics_rollup with params start_date and end_date",),
        ),
    )
}


def checks_for(cadence: str) -> list[Check]:
    """The check groups of a cadence's DAG, in catalog order (the database probe is not one)."""
    return [c for c in CHECKS.values() if c.cadence == cadence and c.role == "check"]


def probe_for(cadence: str) -> Check | None:
    """The database probe whose alert the DAG of this cadence sends (None: another DAG's)."""
    return next((c for c in CHECKS.values() if c.cadence == cadence and c.role == "probe"), None)


def probes() -> list[Check]:
    """Every probe: while one fires, no check is evaluated (the database is unreachable)."""
    return [c for c in CHECKS.values() if c.role == "probe"]


def get_check(key: str) -> Check:
    try:
        return CHECKS[key]
    except KeyError:
        raise KeyError(f"Unknown check {key!r}; known checks: {', '.join(sorted(CHECKS))}") from None
