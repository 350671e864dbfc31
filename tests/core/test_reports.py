"""reports: periods, backup location and the Slack texts of the weekly review and quarterly audit."""

from __future__ import annotations

from datetime import UTC, datetime

import pendulum

from nurture_ops import reports
from nurture_ops.windows import Window


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


RUN = utc("2026-11-09 07:00")
WEEK = Window(utc("2026-11-02 07:00"), RUN)


# -- periods and locations ------------------------------------------------------------------------


def test_week_and_quarter_end_at_the_run():
    assert reports.week_window(RUN) == WEEK
    assert reports.quarter_window(utc("2026-10-01 08:00")) == Window(
        utc("2026-07-01 08:00"), utc("2026-10-01 08:00")
    )
    assert reports.quarter_window(utc("2026-01-01 08:00")).start == utc("2025-10-01 08:00")  # across a year
    assert reports.quarter_window(utc("2026-05-31 08:00")).start == utc("2026-02-28 08:00")  # clamped
    # The task context's logical date is a pendulum DateTime: the window is plain UTC datetimes.
    window = reports.quarter_window(pendulum.datetime(2026, 10, 1, 8, tz="UTC"))
    assert type(window.start) is datetime and window.start.tzinfo is UTC
    assert (window.end - window.start).days == 92


def test_backup_url_defaults_under_airflow_home():
    env = {"AIRFLOW_HOME": "/opt/airflow", "HOME": "/home/ops"}
    assert reports.backup_url(None, env) == "file:///opt/airflow/nurture_ops/workflow-backups"
    assert (
        reports.backup_url("  ", {"HOME": "/home/ops"})
        == "file:///home/ops/airflow/nurture_ops/workflow-backups"
    )
    assert reports.backup_url("s3://aws_default@bucket/n8n", env) == "s3://aws_default@bucket/n8n"
    assert reports.backup_url(" /var/backups/n8n ", env) == "file:///var/backups/n8n"


def test_export_recency_judges_the_newest_complete_export_up_to_the_run():
    labels = ["2026-09-21", "2026-09-28", "2026-09-28-2", "2026-10-05", "notes", "2026-13-01x"]
    result = reports.export_recency(labels, utc("2026-10-01 08:00"), location="file:///b")
    assert result == {
        "location": "file:///b",
        "max_age_days": 8,
        "exports": 3,  # 2026-10-05 is after the run; the others are not export folders
        "last_export": "2026-09-28-2",
        "age_days": 3,
        "recent": True,
    }
    eight = reports.export_recency(["2026-09-23"], utc("2026-10-01 08:00"), location="x")
    nine = reports.export_recency(["2026-09-22"], utc("2026-10-01 08:00"), location="x")
    assert (eight["age_days"], eight["recent"]) == (8, True)
    assert (nine["age_days"], nine["recent"]) == (9, False)
    none = reports.export_recency([], utc("2026-10-01 08:00"), location="x")
    assert (none["last_export"], none["age_days"], none["recent"]) == (None, None, False)


# -- formatting helpers -----------------------------------------------------------------------------


def test_escape_code_and_numbers():
    assert reports.escape("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d"
    assert reports.code("SELECT `x` FROM t WHERE a < 1") == "`SELECT 'x' FROM t WHERE a &lt; 1`"
    assert reports.code("x" * 50, limit=10) == "`" + "x" * 9 + "…`"
    assert (reports.num(1234567), reports.num(10.25, 2), reports.num(None), reports.num(3.0)) == (
        "1,234,567",
        "10.25",
        "n/a",
        "3.0",
    )
    assert reports.minute("2026-11-04T10:01:00+00:00") == "2026-11-04 10:01 UTC"
    assert (reports.plural(1, "run"), reports.plural(2, "run"), reports.plural(2, "index", "indexes")) == (
        "1 run",
        "2 runs",
        "2 indexes",
    )


def test_fit_keeps_head_tail_and_the_worst_items_within_the_limit():
    items = [f"• item {i} " + "x" * 90 for i in range(100)]
    text = reports.fit(["HEAD"], items, ["TAIL"], limit=1000)
    assert len(text) <= 1000
    lines = text.split("\n")
    assert lines[0] == "HEAD" and lines[-1] == "TAIL"
    assert lines[1].startswith("• item 0 ")
    shown = len(lines) - 3
    assert lines[-2] == f"_…and {100 - shown} more (see the task's XCom)_"
    assert reports.fit(["a"], ["b"]) == "a\nb"


# -- weekly review ------------------------------------------------------------------------------------

QUERY = {
    "available": True,
    "slow_ms": 500,
    "queries": [
        {
            "query": "SELECT * FROM email_sends WHERE x < $1",
            "calls": 4,
            "mean_ms": 812.5,
            "max_ms": 1500.0,
            "slow": True,
        },
        {"query": "SELECT 1 FROM leads", "calls": 1, "mean_ms": 2.0, "max_ms": 2.0, "slow": False},
    ],
    "slow_count": 1,
    "spiky_count": 0,
    "advice": ["If queries are slow, add indexes or optimize WHERE clauses"],
    "scaling": {
        "section": "Scale Database (Supabase)",
        "trigger": "Query response time > 500ms consistently",
        "actions": ["Upgrade Supabase plan (more resources)", "Archive old data (> 1 year)"],
    },
}
SCHEDULER = {
    "target": {"enrollments": 1000, "seconds": 10},
    "runs": 3,
    "unmeasured_runs": 1,
    "minutes_measured": 2,
    "minutes_missing_target": 0,
    "enrollments_processed": 1500,
    "seconds_per_1000": 6.0,
    "worst_minutes": [],
}
SENDER = {
    "target_per_minute": 100,
    "minutes_judged": 0,
    "minutes_missing_target": 0,
    "emails_sent": 0,
    "peak_sent_per_minute": 0,
    "peak_backlog": 0,
    "worst_minutes": [],
}
UNSUBSCRIBES = {
    "unsubscribes": 1,
    "group_unsubscribes": 3,
    "campaigns": [
        {
            "campaign_name": "Quiet <one>",
            "unsubscribes": 1,
            "group_unsubscribes": 0,
            "leads": 1,
            "emails_sent": 10,
            "unsubscribe_rate": 10.0,
            "reasons": [],
            "more_reasons": 0,
        },
        {
            "campaign_name": "Loud",
            "unsubscribes": 0,
            "group_unsubscribes": 3,
            "leads": 3,
            "emails_sent": 0,
            "unsubscribe_rate": None,
            "reasons": [{"reason": "Too many", "count": 3}],
            "more_reasons": 2,
        },
    ],
}
EXPORT = {
    "location": "file:///b/2026-11-09",
    "workflows": 30,
    "active": 29,
    "previous": "2026-11-02",
    "first_export": False,
    "changed_count": 22,
    "changed": [f"W{i:02d}" for i in range(20)],
    "added_count": 0,
    "added": [],
    "removed_count": 1,
    "removed": ["Old"],
    "deactivated_count": 0,
    "deactivated": [],
    "activated_count": 0,
    "activated": [],
}


def test_query_performance_text_flags_slow_statements_with_the_runbook_actions():
    text = reports.query_performance_text(QUERY)
    assert text.split("\n") == [
        "*Query performance review* (pg_stat_statements, slowest mean first)",
        ":warning: 1 statement over 500 ms mean: the runbook's scaling trigger \"Query response time &gt; 500ms "
        'consistently"',
        "• :warning: `SELECT * FROM email_sends WHERE x &lt; $1`: mean 812.5 ms, max 1,500.0 ms, 4 calls",
        "• `SELECT 1 FROM leads`: mean 2.0 ms, max 2.0 ms, 1 call",
        "*Runbook:* If queries are slow, add indexes or optimize WHERE clauses.",
        "If it persists, *Scale Database (Supabase)*: 1. Upgrade Supabase plan (more resources) "
        "2. Archive old data (&gt; 1 year)",
    ]


def test_query_performance_text_without_the_extension_says_how_to_enable_it():
    text = reports.query_performance_text(
        {"available": False, "reason": "not created", "how_to_enable": "CREATE EXTENSION pg_stat_statements;"}
    )
    assert ":information_source: Not available: not created. This is not a failure" in text
    assert "*How to enable:* CREATE EXTENSION pg_stat_statements;" in text


def test_unsubscribe_text_lists_the_worst_campaign_first_and_escapes_names():
    text = reports.unsubscribe_text(UNSUBSCRIBES)
    assert text.split("\n")[1:] == [
        "1 unsubscribe and 3 group unsubscribes in 2 campaigns (worst first)",
        "• *Loud*: 0 unsubscribes + 3 group (3 leads) — reasons: Too many (3), +2 more",
        "• *Quiet &lt;one&gt;*: 1 unsubscribe + 0 group (1 lead, 10.00% of 10 sent this week)",
    ]
    assert reports.unsubscribe_text({"campaigns": []}).endswith(
        ":white_check_mark: No unsubscribes this week"
    )


def test_export_text_lists_changes_and_says_when_it_failed():
    text = reports.export_text(EXPORT)
    assert "Since 2026-11-02: 22 changed, 0 added, 1 removed, 0 deactivated, 0 activated" in text
    assert "• Changed: W00, W01" in text and "W19 and 2 more\n• Removed: Old" in text
    failed = reports.export_text(None, "Could not connect to N8n for GET http://127.0.0.1:9/api/v1/workflows")
    assert ":x: *Export FAILED*: no workflow definitions were backed up this week." in failed
    assert "Error: `Could not connect to N8n for GET http://127.0.0.1:9/api/v1/workflows`" in failed


def test_weekly_report_summary_names_missed_targets_first():
    sections, summary = reports.weekly_report(
        {
            "query_performance": QUERY,
            "scheduler_performance": SCHEDULER,
            "sender_performance": SENDER,
            "unsubscribe_feedback": UNSUBSCRIBES,
            "export_workflow_definitions": EXPORT,
        },
        week=WEEK,
    )
    assert summary == (
        "1 slow statement over 500 ms; scheduler on target; sender on target; 1 unsubscribe (+3 group); "
        "30 workflows exported (23 changes)"
    )
    assert len(sections) == 6
    assert sections[0] == (
        "*Week* 2026-11-02 07:00 UTC → 2026-11-09 07:00 UTC (7 days ending at the run)\n"
        ":warning: Needs a look: 1 slow statement over 500 ms"
    )
    assert ":white_check_mark: All 2 measured minutes on target" in sections[2]
    assert "3 runs (1 without a duration), 1,500 enrollments, 6.00 s per 1,000 overall" in sections[2]
    assert ":white_check_mark: No emails were kept waiting: no minute to judge" in sections[3]


def test_weekly_report_when_parts_did_not_run():
    parts = dict.fromkeys(reports.WEEKLY_PARTS)
    down = {"ok": False, "error_class": "refused"}
    sections, summary = reports.weekly_report(parts, week=WEEK, database=down, export_error="boom")
    assert summary == (
        "workflow export FAILED; not reviewed (database unreachable): query_performance, "
        "scheduler_performance, sender_performance, unsubscribe_feedback"
    )
    assert "the database was unreachable (refused), so this part was held back" in sections[1]
    assert "Error: `boom`" in sections[5]
    _, failed = reports.weekly_report(
        {**parts, "export_workflow_definitions": EXPORT}, week=WEEK, database={"ok": True}
    )
    assert failed.startswith("not reviewed (task failed): query_performance, ")


def test_every_section_stays_under_the_limit_with_huge_results():
    huge_query = {
        **QUERY,
        "queries": [{**QUERY["queries"][0], "query": "SELECT " + "x" * 600}] * 10,
        "slow_count": 10,
    }
    many = {
        **UNSUBSCRIBES,
        "campaigns": [
            {
                **UNSUBSCRIBES["campaigns"][1],
                "campaign_name": f"C{i} " + "n" * 150,
                "reasons": [{"reason": "r" * 200, "count": 1}] * 10,
            }
            for i in range(300)
        ],
    }
    sections, _ = reports.weekly_report(
        {
            "query_performance": huge_query,
            "unsubscribe_feedback": many,
            "export_workflow_definitions": {**EXPORT, "changed": ["n" * 300] * 20},
        },
        week=WEEK,
    )
    assert all(len(s) <= reports.SECTION_LIMIT for s in sections)
    assert "more (see the task's XCom)" in sections[4]


# -- quarterly audit ----------------------------------------------------------------------------------


def metric(current, limit, status, **extra):
    return {
        "current": current,
        "limit": limit,
        "first_week": current,
        "last_week": current,
        "growth_per_day": 0.0,
        "growth_percent_over_quarter": 0.0,
        "percent_of_limit": round(current * 100 / limit, 2),
        "days_to_limit": None,
        "projected_limit_date": None,
        "status": status,
        **extra,
    }


CAPACITY = {
    "as_of": "2026-10-01T08:00:00+00:00",
    "quarter_start": "2026-07-01T08:00:00+00:00",
    "status": "over_limit",
    "metrics": {
        "active_enrollments": metric(
            50_000, 100_000, "plan", projected_limit_date="2027-06-01", days_to_limit=243.0
        ),
        "emails_per_day": metric(
            120_000.0,
            100_000,
            "over_limit",
            busiest_day=130_000,
            busiest_day_percent_of_limit=130.0,
            scaling=["sendgrid", "n8n"],
        ),
        "organizations": metric(10, 100, "ok"),
    },
    "scaling": {
        "sendgrid": {
            "section": "Scale SendGrid",
            "trigger": "want to send > 100K/day",
            "actions": ["Upgrade SendGrid plan"],
        },
        "n8n": {
            "section": "Scale N8n",
            "trigger": "queue > 100 items",
            "actions": ["Use queue mode for workflows"],
        },
    },
}
SCHEMA_OK = {
    "ready": True,
    "schema_files": ["010.sql"],
    "tables": {"expected": 10, "missing": []},
    "columns": {"expected": 90, "missing": [], "not_null_missing": []},
    "constraints": {"expected": 26, "missing": [], "not_validated": []},
    "indexes": {"expected": 17, "missing": [], "invalid": []},
}
RECENT = {
    "location": "file:///b",
    "max_age_days": 8,
    "exports": 2,
    "last_export": "2026-09-28",
    "age_days": 3,
    "recent": True,
}
QUARTER = Window(utc("2026-07-01 08:00"), utc("2026-10-01 08:00"))


def test_capacity_text_worst_limit_first_with_the_scaling_actions():
    lines = reports.capacity_text(CAPACITY).split("\n")
    assert lines[2].startswith(
        "• :warning: *Emails per day*: 120,000.0 of 100,000 (120.00%); busiest day 130,000 (130.00%); "
    )
    assert lines[2].endswith("limit reached — *OVER THE LIMIT*")
    assert lines[3].startswith("• *Active enrollments*: 50,000 of 100,000 (50.00%)")
    assert lines[3].endswith("limit projected 2027-06-01 (in 243 days) — *plan scaling*")
    assert lines[4].startswith("• *Organizations*: 10 of 100 (10.00%)")
    assert lines[5:] == [
        "*Scale SendGrid* (for Emails per day; trigger: want to send &gt; 100K/day): 1. Upgrade SendGrid plan",
        "*Scale N8n* (for Emails per day; trigger: queue &gt; 100 items): 1. Use queue mode for workflows",
    ]


def test_quarterly_report_attention_for_a_missing_table_or_index():
    schema = {
        **SCHEMA_OK,
        "ready": False,
        "tables": {"expected": 10, "missing": ["lead_preferences"]},
        "indexes": {
            "expected": 17,
            "missing": ["a_idx (on t)", "b_idx (on t)", "c_idx (on t)", "d_idx (on t)"],
            "invalid": [],
        },
    }
    sections, summary = reports.quarterly_report(
        {"capacity_review": CAPACITY, "schema_readiness": schema, "recovery_readiness": RECENT},
        quarter=QUARTER,
    )
    assert summary == (
        "ATTENTION: 1 missing table (lead_preferences); 4 missing indexes (a_idx (on t), b_idx (on t), "
        "c_idx (on t) and 1 more); emails per day over the limit (120.0%); active enrollments limit projected "
        "2027-06-01; last workflow export 3 days old"
    )
    assert sections[2].split("\n")[2:4] == [
        "• *1 missing table*: lead_preferences",
        "• *4 missing indexes*: a_idx (on t), b_idx (on t), c_idx (on t), d_idx (on t)",
    ]


def test_quarterly_report_without_problems_has_no_attention():
    ok_capacity = {
        **CAPACITY,
        "status": "ok",
        "scaling": {},
        "metrics": {"organizations": metric(10, 100, "ok")},
    }
    sections, summary = reports.quarterly_report(
        {"capacity_review": ok_capacity, "schema_readiness": SCHEMA_OK, "recovery_readiness": RECENT},
        quarter=QUARTER,
    )
    assert (
        summary
        == "schema complete; capacity ok (highest: organizations at 10.00%); last workflow export 3 days old"
    )
    assert sections[0].endswith(":white_check_mark: Nothing needs action")
    assert (
        ":white_check_mark: Everything present: 10 tables, 90 columns, 17 indexes, 26 constraints from 010.sql"
        in sections[2]
    )
    missing = reports.quarterly_report({}, quarter=QUARTER)[1]
    assert (
        missing
        == "ATTENTION: not reviewed (task failed): capacity_review, schema_readiness, recovery_readiness"
    )
