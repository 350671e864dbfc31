"""dev/bench.py (`make bench`): a tiny run through the real CLI proves the generator, the
measurements and the report work; the numbers asserted follow from the arguments given."""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from dev import pg
from dev.bench import (
    DEFAULT_END,
    TARGET_MS,
    Shape,
    _db_exists,
    _drop_db,
    _kept_with_shape,
    _secondary_indexes,
    analyse_plan,
    bring_schema_up_to_date,
    check_disk_space,
    day_chunks,
    generate,
    judge,
    markdown_table,
    merge_sizes,
    parse_args,
    stored_shape,
    target_ms,
)
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
    "maintenance.review_workflow_errors",
    "maintenance:count_completed_enrollments",
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
            *("--dbname", dbname, "--report", str(report_path), "--out-dir", str(tmp_path)),
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
        "monthly",
        "quarterly",
    }
    assert report["limits"]["scale_database_ms"] == 500

    # The printed table has a line per check; the database is gone.
    for key in sql_checks:
        assert f"check:{key}" in proc.stdout
    assert f"Dropped {dbname}" in proc.stdout
    assert not _db_exists(dbname)

    # pg_stat_statements beside the bench's medians: every check's statement found by its queryid.
    if report["pg_stat_statements"]:
        for key in sql_checks:
            (statement,) = items[f"check:{key}"]["statements"]
            assert statement["pg_stat_statements"]["calls"] >= 3, statement["sql_file"]
    # The quick table: one row per statement, each with its target and a verdict; no ratio column.
    summary = json.loads((tmp_path / "quick.json").read_text())
    assert summary["days"] == [DAYS]
    rows = summary["rows"]
    assert {r["result"] for r in rows} <= {"pass", "miss"}, [r for r in rows if r["result"] == "error"]
    assert all(r["target_ms"] == TARGET_MS[r["cadence"]] for r in rows)
    assert {r["cadence"] for r in rows} >= {
        "5min",
        "15min",
        "daily",
        "rollup",
        "weekly",
        "ops_page",
        "dagbag",
    }
    (dagbag,) = [r for r in rows if r["cadence"] == "dagbag"]
    assert dagbag["result"] == "pass" or dagbag["misses"] == ["over 1000 ms"]
    assert summary["dagbag"]["dags"] >= 9 and not summary["dagbag"]["import_errors"]
    markdown = (tmp_path / "quick.md").read_text()
    header = markdown.splitlines()[2]
    assert "ratio" not in header and f"ms at {DAYS} d" in header
    assert "`checks/alerts_5min/measure_email_failure_rate.sql`" in markdown


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


def test_targets_by_the_cadence_of_the_dag_that_runs_the_statement():
    assert [target_ms(c) for c in ("5min", "15min", "daily", "rollup")] == [1, 1, 15, 150]
    assert [target_ms(c) for c in ("weekly", "monthly", "quarterly")] == [500, 500, 500]
    assert target_ms("ops_page") == 150 and target_ms("dagbag") == 1000


def test_ratio_and_pass_or_miss():
    assert judge({90: 0.4, 365: 0.5}, 1) == {"ratio": 1.25, "result": "pass", "misses": []}
    assert judge({90: 10, 365: 20}, 15) == {
        "ratio": 2.0,
        "result": "miss",
        "misses": ["over 15 ms", "grows x2"],
    }
    assert judge({90: 2, 365: 4}, 15)["misses"] == ["grows x2"]  # within the target, grows too fast
    assert judge({90: 0.1, 365: 0.3}, 1)["result"] == "pass"  # 0.2 ms apart: jitter
    assert judge({90: 0.4, 365: 1.0}, 1)["misses"] == ["grows x2.5"]  # 0.6 ms apart
    assert judge({90: 12}, 15) == {"ratio": None, "result": "pass", "misses": []}  # one size: no ratio
    assert judge({90: None, 365: None}, 15)["result"] == "error"


def _row(key, statement, item, cadence, ms, window_rows=None, pgss=None):
    return {
        "key": key,
        "statement": statement,
        "item": item,
        "cadence": cadence,
        "ms": ms,
        "window_rows": window_rows,
        "pgss_ms": pgss,
        "pgss_calls": 3 if pgss is not None else None,
    }


def test_growth_table_and_its_markdown():
    small = [
        _row(
            "a", "checks/daily/measure_bounce_rate.sql", "check:high_bounce_rate", "daily", 4.0, 90_000, 3.5
        ),
        _row(
            "b", "review/measure_send_rate.sql", "review.sender_performance", "weekly", 100.0, 700_000, 95.0
        ),
    ]
    large = [
        _row(
            "a", "checks/daily/measure_bounce_rate.sql", "check:high_bounce_rate", "daily", 5.0, 100_000, 4.5
        ),
        _row(
            "b", "review/measure_send_rate.sql", "review.sender_performance", "weekly", 600.0, 700_000, 590.0
        ),
    ]
    dagbag = {**_row("dagbag", "DagBag parse of dags/", "dagbag", "dagbag", 420.0), "key": "dagbag"}
    rows = merge_sizes({365: large, 90: small}, [dagbag])
    by_item = {r["item"]: r for r in rows}
    assert by_item["check:high_bounce_rate"]["ms"] == {90: 4.0, 365: 5.0}
    assert by_item["check:high_bounce_rate"]["window_rows"] == 100_000  # at the largest size
    # Judged on the server's time (pg_stat_statements) where it has the statement: 4.5 / 3.5.
    assert by_item["check:high_bounce_rate"]["ratio"] == 1.29
    assert by_item["check:high_bounce_rate"]["judged_on"] == "server"
    assert by_item["check:high_bounce_rate"]["result"] == "pass"
    assert by_item["review.sender_performance"]["misses"] == ["over 500 ms", "grows x6.21"]
    assert by_item["dagbag"]["result"] == "pass" and by_item["dagbag"]["ratio"] is None
    assert by_item["dagbag"]["judged_on"] == "bench"

    machine = {"nproc": 2, "cpu": "AMD EPYC", "ram_gb": 23.5, "postgresql": "15.18", "shared_buffers": "2GB"}
    when = DEFAULT_END
    text = markdown_table(rows, "year", [90, 365], machine, when)
    lines = text.splitlines()
    assert lines[0].startswith("`make bench SIZE=year` (90 days, 365 days), 2026-11-30 07:00 UTC")
    assert "2 cores (AMD EPYC), 23.5 GB RAM, PostgreSQL 15.18, shared_buffers 2GB" in lines[0]
    assert "2 of 3 pass" in lines[0]
    assert lines[2] == (
        "| statement (include/sql) | cadence | rows in window | ms at 90 d | pg_stat_statements ms at 90 d "
        "| ms at 365 d | pg_stat_statements ms at 365 d | ratio 365/90 | target ms | pass/miss |"
    )
    assert lines[4] == (
        "| `checks/daily/measure_bounce_rate.sql` | daily | 100,000 | 4.00 | 3.50 (3 calls) | 5.00 "
        "| 4.50 (3 calls) | 1.29 | 15 | pass |"
    )
    assert lines[5].startswith(
        "| review/measure_send_rate.sql (review.sender_performance) | weekly | 700,000 |"
    )
    assert lines[5].endswith("| 6.21 | 500 | miss (over 500 ms; grows x6.21) |")
    assert lines[6] == "| DagBag parse of dags/ | dagbag |  |  |  | 420 |  |  | 1000 | pass |"

    # One size of the year run: both columns, the other one and the ratio empty.
    single = markdown_table(merge_sizes({365: large}), "365", [365], machine, when).splitlines()
    assert single[4] == (
        "| `checks/daily/measure_bounce_rate.sql` | daily | 100,000 |  |  | 5.00 | 4.50 (3 calls) |  | 15 | pass |"
    )
    quick = markdown_table(merge_sizes({7: small}), "quick", [7], machine, when).splitlines()
    assert quick[0].startswith("`make bench` (7 days)")
    assert quick[2].endswith("| ms at 7 d | pg_stat_statements ms at 7 d | target ms | pass/miss |")


def test_size_arguments():
    assert parse_args([]).sizes == [7]
    assert parse_args(["--days", "3"]).sizes == [3]
    year = parse_args(["--size", "year"])
    assert year.sizes == [90, 365]
    assert parse_args(["--size", "90"]).sizes == [90]
    assert parse_args(["--size", "365"]).sizes == [365]
    from dev.bench import database_for, report_for

    assert [database_for(year, d) for d in year.sizes] == ["nurture_bench_90", "nurture_bench_365"]
    assert report_for(year, 365).name == "report_365.json"
    assert database_for(parse_args([]), 7) == "nurture_bench"
    for wrong in (["--size", "month"], ["--size", "year", "--days", "30"], ["--chunk-days", "0"]):
        with pytest.raises(SystemExit):
            parse_args(wrong)


def test_day_chunks_cover_the_data_once():
    shape = Shape(40, 240, 1, 10, DEFAULT_END)
    chunks = day_chunks(shape, 15)
    assert [(b - a).days for a, b in chunks] == [15, 15, 10]
    assert chunks[0][0] == shape.start and chunks[-1][1] == shape.end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))


def test_chunked_generation_makes_the_expected_sends(pg_server):
    dbname = f"nurture_bench_chunks_{os.getpid()}"
    shape = Shape(3, 240, 2, 100, DEFAULT_END)
    try:
        timings = generate(dbname, shape, chunk_days=1)
        with psycopg.connect(pg.dsn(dbname)) as conn:
            sends, first, last = conn.execute(
                "SELECT COUNT(*), MIN(created_at), MAX(created_at) FROM email_sends"
            ).fetchone()
            orphans = conn.execute(
                "SELECT COUNT(*) FROM email_events AS ev "
                "WHERE NOT EXISTS (SELECT 1 FROM email_sends AS es WHERE es.id = ev.email_send_id)"
            ).fetchone()[0]
            events_per_send = conn.execute(
                "SELECT COUNT(*)::numeric / (SELECT COUNT(*) FROM email_sends) FROM email_events"
            ).fetchone()[0]
        # --reuse: the same shape is reused, another one is not; a kept database gets the schema's
        # indexes added since it was generated.
        assert _kept_with_shape(dbname, shape)
        assert not _kept_with_shape(dbname, Shape(4, 240, 2, 100, DEFAULT_END))
        with psycopg.connect(pg.dsn(dbname), autocommit=True) as conn:
            index = _secondary_indexes(conn)[0]
            conn.execute(f'DROP INDEX "{index}"')
        assert bring_schema_up_to_date(dbname) == [index]
        assert bring_schema_up_to_date(dbname) == []
    finally:
        _drop_db(dbname)
    assert timings["history_chunks"] == 3
    assert sends == shape.expected_sends()
    assert shape.start <= first and last < shape.end
    assert orphans == 0
    assert 1.2 <= events_per_send <= 1.8


def test_lean_payloads_keep_every_key_the_package_reads(pg_server):
    dbname = f"nurture_bench_lean_{os.getpid()}"
    shape = Shape(2, 480, 2, 100, DEFAULT_END, payload="lean")
    try:
        generate(dbname, shape, chunk_days=1)
        with psycopg.connect(pg.dsn(dbname)) as conn:
            keys = dict(
                conn.execute(
                    "SELECT event_type, ARRAY_AGG(DISTINCT k ORDER BY k) "
                    "FROM email_events, JSONB_OBJECT_KEYS(payload) AS k GROUP BY event_type"
                ).fetchall()
            )
            stored = stored_shape(dbname)
    finally:
        _drop_db(dbname)
    assert stored.payload == "lean" and not _kept_with_shape(dbname, Shape(2, 480, 2, 100, DEFAULT_END))
    base = ["email", "event", "sg_event_id", "timestamp"]
    assert keys["delivered"] == keys["open"] == base
    assert set(keys["bounce"]) == {*base, "type", "status", "reason", "bounce_classification"}
    for kind in ("unsubscribe", "group_unsubscribe"):  # few at this size: checked where present
        assert set(keys.get(kind, base)) <= {*base, "reason", "asm_group_id"}


def test_a_load_the_disk_cannot_hold_is_refused_before_anything_is_created(pg_server):
    huge = Shape(10**6, 100_000, 100, 100_000, DEFAULT_END, payload="lean")
    with pytest.raises(SystemExit, match="Not enough disk for 1000000 days"):
        check_disk_space(huge)
    check_disk_space(Shape(1, 240, 1, 10, DEFAULT_END))  # a tiny one fits


def test_an_ops_page_endpoint_is_judged_on_its_target_only():
    rows = merge_sizes(
        {
            90: [
                {**_row("p", "ops page GET / (p95)", "ops_page", "ops_page", 10.0), "key": "ops_page|GET /"}
            ],
            365: [
                {**_row("p", "ops page GET / (p95)", "ops_page", "ops_page", 20.0), "key": "ops_page|GET /"}
            ],
        }
    )
    assert rows[0]["ratio"] == 2.0 and rows[0]["result"] == "pass"
    slow = merge_sizes({365: [{**_row("p", "ops page GET /", "ops_page", "ops_page", 151.0), "key": "k"}]})
    assert slow[0]["misses"] == ["over 150 ms"]
