"""dev/bench.py (`make bench`): a tiny run through the real CLI proves the generator, the
measurements and the report work; the numbers asserted follow from the arguments given."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from dev.bench import Shape, _db_exists, analyse_plan
from nurture_ops.core.catalog import CHECKS
from nurture_ops.core.per_organization import PER_ORGANIZATION

REPO = Path(__file__).resolve().parents[2]
DAYS, PER_DAY, ORGS, ACTIVE = 1, 2000, 5, 3000
FUNCTIONS = {
    "digest.collect",
    "analytics.rollup_day",
    "analytics.missing_analytics_days",
    "remediation:count_hard_bounce_leads",
    "remediation:invalidate_hard_bounce_leads (apply, rolled back)",
    "audit.capacity_review",
    "audit.schema_readiness",
    "review.scheduler_performance",
    "review.sender_performance",
    "review.unsubscribe_feedback",
    "review.deliverability_counts",
    "review.slow_queries",
}


def test_tiny_bench_reports_every_check_and_drops_its_database(pg_server, tmp_path):
    dbname = f"nurture_bench_test_{os.getpid()}"
    report_path = tmp_path / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dev.bench",
            *("--days", str(DAYS), "--per-day", str(PER_DAY), "--orgs", str(ORGS), "--active", str(ACTIVE)),
            *("--dbname", dbname, "--report", str(report_path)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(report_path.read_text())

    # The data is what the arguments ask for.
    shape = Shape(DAYS, PER_DAY, ORGS, ACTIVE, Shape.from_dict(report["shape"]).end)
    tables = report["data"]["tables"]
    assert tables["organizations"]["rows"] == ORGS
    assert tables["nurture_campaigns"]["rows"] == ORGS * 10
    assert tables["leads"]["rows"] == shape.leads
    assert tables["lead_campaign_enrollments"]["rows"] == ACTIVE + shape.paused + shape.completed
    assert report["data"]["active_enrollments"] == ACTIVE
    assert tables["email_sends"]["rows"] == shape.expected_sends() == report["data"]["expected_sends"]
    assert abs(tables["email_sends"]["rows"] - PER_DAY) <= 12  # 24 hourly roundings
    assert 1.2 <= report["data"]["events_per_send"] <= 1.8
    # The scheduler, the sender and the event tracker every minute; the analytics updater daily.
    assert tables["workflow_executions"]["rows"] == 3 * 24 * 60 * DAYS + DAYS

    # One row per catalog check and per function, each timed `repeats` times, median reported.
    items = {item["name"]: item for item in report["items"]}
    per_organization = {f"check:{key}:per_organization" for key in PER_ORGANIZATION}
    sql_checks = {key for key, check in CHECKS.items() if check.sql}  # not those measured through an API
    assert set(items) == {f"check:{key}" for key in sql_checks} | FUNCTIONS | per_organization
    for item in report["items"]:
        assert item["error"] is None, item
        assert len(item["runs_ms"]) == report["repeats"] == 3
        assert item["median_ms"] == round(statistics.median(item["runs_ms"]), 2)
        assert item["statements"], item["name"]
        for statement in item["statements"]:
            assert statement["sql_file"].endswith(".sql"), statement["sql_file"]
            assert "error" not in statement["explain"], statement
            assert statement["explain"]["plan"][0]["Plan"]["Node Type"]
    # Each check is one statement: its own SQL file, explained.
    for key in sql_checks:
        (statement,) = items[f"check:{key}"]["statements"]
        check = CHECKS[key]
        assert statement["sql_file"] == check.sql
    for key, spec in PER_ORGANIZATION.items():  # one GROUP BY organization_id per check
        (statement,) = items[f"check:{key}:per_organization"]["statements"]
        assert statement["sql_file"] == spec.sql
    digest_files = [s["sql_file"] for s in items["digest.collect"]["statements"]]
    assert digest_files == [
        "checks/daily/measure_send_volume.sql",
        "checks/daily/measure_active_enrollments.sql",
        "checks/daily/measure_workflow_errors.sql",
        "checks/daily/measure_kpis.sql",
        "checks/daily/measure_low_engagement.sql",
    ]
    assert items["digest.collect"]["memory"]["peak_rss_mb"] > 0
    assert all(items[name]["memory"] for name in FUNCTIONS if name.startswith("review."))
    assert {b["cadence"] for b in report["budgets"]} == {
        "5min",
        "15min",
        "daily",
        "rollup",
        "weekly",
        "quarterly",
    }
    assert report["limits"]["scale_database_ms"] == 500

    # The printed table has a line per check; the database is gone.
    for key in sql_checks:
        assert f"check:{key}" in proc.stdout
    assert f"Dropped {dbname}" in proc.stdout
    assert not _db_exists(dbname)


def test_analyse_plan_counts_rows_and_flags_seq_scans_on_big_tables():
    plan = [
        {
            "Plan": {
                "Node Type": "Nested Loop",
                "Shared Hit Blocks": 100,
                "Shared Read Blocks": 28,
                "Plans": [
                    {
                        "Node Type": "Seq Scan",
                        "Relation Name": "email_sends",
                        "Parallel Aware": True,
                        "Actual Rows": 10,
                        "Rows Removed by Filter": 290,
                        "Actual Loops": 3,
                        "Filter": "(send_status = 'bounced'::text)",
                    },
                    {
                        "Node Type": "Index Scan",
                        "Relation Name": "leads",
                        "Actual Rows": 1,
                        "Actual Loops": 30,
                    },
                    {
                        "Node Type": "Seq Scan",
                        "Relation Name": "organizations",
                        "Actual Rows": 4,
                        "Actual Loops": 1,
                    },
                ],
            },
            "Planning Time": 0.5,
            "Execution Time": 12.25,
        }
    ]
    result = analyse_plan(plan, {"email_sends": 1000, "leads": 50})
    assert result["rows_scanned"] == 900 + 30 + 4
    assert result["per_table"]["email_sends"] == {"rows_scanned": 900, "seq_scan_rows": 900}
    assert [s["relation"] for s in result["seq_scans"]] == ["email_sends", "organizations"]
    assert [s["relation"] for s in result["big_table_seq_scans"]] == ["email_sends"]
    assert result["big_table_seq_scans"][0]["parallel"] is True
    assert result["history_reads"] == [{"relation": "email_sends", "rows_scanned": 900, "table_rows": 1000}]
    assert result["buffers"]["mb"] == 1.0  # 128 blocks of 8 kB
    assert result["execution_ms"] == 12.25
