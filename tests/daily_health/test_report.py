"""The daily digest's KPI table: every KPI of the runbook with the right status (pure)."""

from __future__ import annotations

from nurture_ops.core.catalog import KPI_LABELS, KPI_REVIEW
from nurture_ops.daily_health.report import kpi_rows, message

KPIS = {
    "delivery_rate": 96.0,  # > 95 target: ok
    "open_rate": 25.0,  # below 30 target, above 20 alert: warning
    "click_rate": 1.5,  # below 2 alert: critical
    "unsubscribe_rate": 0.7,  # above 0.5 target, below 1 alert: warning
    "bounce_rate": 12.0,  # above 10 alert: critical
    "scheduler_success_rate": 100.0,  # ok
    "sender_success_rate": None,  # no executions: no data
}


def test_each_kpi_gets_its_runbook_status():
    rows = {r["metric"]: r for r in kpi_rows(KPIS, KPI_REVIEW.thresholds)}
    assert set(rows) == set(KPI_LABELS.values())
    assert {m: r["status"] for m, r in rows.items()} == {
        "Email Delivery Rate": "ok",
        "Open Rate": "warning",
        "Click Rate": "critical",
        "Unsubscribe Rate": "warning",
        "Bounce Rate": "critical",
        "Scheduler Success Rate": "ok",
        "Sender Success Rate": "no_data",
    }
    assert rows["Email Delivery Rate"]["target"] == "> 95%"
    assert rows["Email Delivery Rate"]["alert"] == "< 90%"
    assert rows["Unsubscribe Rate"]["target"] == "< 0.5%"


def test_digest_message_summarises_the_table():
    digest = {
        "day": "2026-11-28",
        "kpis": KPIS,
        "volume": {"emails_sent": 1000, "failed": 5, "failure_rate": 0.5, "avg_delay_seconds": 22},
        "enrollments": {"active_enrollments": 10, "overdue": 0, "due_soon": 2},
        "workflow_errors": {"error_count": 0, "details": []},
        "engagement": {"campaigns_below": 0, "campaigns_measured": 3},
    }
    built = message(digest, KPI_REVIEW.thresholds)
    assert built["text"] == (
        "[INFO] Daily health digest · 2026-11-28: 2 of 7 KPIs on target, 2 below target, 2 past the alert level, "
        "1 without data"
    )
    table = built["blocks"][2]["text"]["text"]
    assert "Click Rate" in table and "🚨 ALERT" in table and "⚠️ below target" in table
