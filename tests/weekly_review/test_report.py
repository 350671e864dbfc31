"""weekly_review.report: the Slack text of the weekly review."""

from __future__ import annotations

from datetime import UTC, datetime

from nurture_ops.core.text import SECTION_LIMIT
from nurture_ops.core.windows import Window
from nurture_ops.weekly_review import report


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


RUN = utc("2026-11-09 07:00")


WEEK = Window(utc("2026-11-02 07:00"), RUN)


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
    text = report.query_performance_text(QUERY)
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
    text = report.query_performance_text(
        {"available": False, "reason": "not created", "how_to_enable": "CREATE EXTENSION pg_stat_statements;"}
    )
    assert ":information_source: Not available: not created. This is not a failure" in text
    assert "*How to enable:* CREATE EXTENSION pg_stat_statements;" in text


def test_unsubscribe_text_lists_the_worst_campaign_first_and_escapes_names():
    text = report.unsubscribe_text(UNSUBSCRIBES)
    assert text.split("\n")[1:] == [
        "1 unsubscribe and 3 group unsubscribes in 2 campaigns (worst first)",
        "• *Loud*: 0 unsubscribes + 3 group (3 leads) — reasons: Too many (3), +2 more",
        "• *Quiet &lt;one&gt;*: 1 unsubscribe + 0 group (1 lead, 10.00% of 10 sent this week)",
    ]
    assert report.unsubscribe_text({"campaigns": []}).endswith(":white_check_mark: No unsubscribes this week")


def test_export_text_lists_changes_and_says_when_it_failed():
    text = report.export_text(EXPORT)
    assert "Since 2026-11-02: 22 changed, 0 added, 1 removed, 0 deactivated, 0 activated" in text
    assert "• Changed: W00, W01" in text and "W19 and 2 more\n• Removed: Old" in text
    failed = report.export_text(None, "Could not connect to N8n for GET http://127.0.0.1:9/api/v1/workflows")
    assert ":x: *Export FAILED*: no workflow definitions were backed up this week." in failed
    assert "Error: `Could not connect to N8n for GET http://127.0.0.1:9/api/v1/workflows`" in failed


def test_weekly_report_summary_names_missed_targets_first():
    sections, summary = report.weekly_report(
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
    parts = dict.fromkeys(report.WEEKLY_PARTS)
    down = {"ok": False, "error_class": "refused"}
    sections, summary = report.weekly_report(parts, week=WEEK, database=down, export_error="boom")
    assert summary == (
        "workflow export FAILED; not reviewed (database unreachable): query_performance, "
        "scheduler_performance, sender_performance, unsubscribe_feedback"
    )
    assert "the database was unreachable (refused), so this part was held back" in sections[1]
    assert "Error: `boom`" in sections[5]
    _, failed = report.weekly_report(
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
    sections, _ = report.weekly_report(
        {
            "query_performance": huge_query,
            "unsubscribe_feedback": many,
            "export_workflow_definitions": {**EXPORT, "changed": ["n" * 300] * 20},
        },
        week=WEEK,
    )
    assert all(len(s) <= SECTION_LIMIT for s in sections)
    assert "more (see the task's XCom)" in sections[4]
