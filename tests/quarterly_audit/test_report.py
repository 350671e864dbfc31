"""quarterly_audit.report: the Slack text of the quarterly audit."""

from __future__ import annotations

from datetime import UTC, datetime

from nurture_ops.core.windows import Window
from nurture_ops.quarterly_audit import report


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


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
    lines = report.capacity_text(CAPACITY).split("\n")
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
    sections, summary = report.quarterly_report(
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
    sections, summary = report.quarterly_report(
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
    missing = report.quarterly_report({}, quarter=QUARTER)[1]
    assert (
        missing
        == "ATTENTION: not reviewed (task failed): capacity_review, schema_readiness, recovery_readiness"
    )
