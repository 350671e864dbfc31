"""nurture_weekly_review end to end: real PostgreSQL, a loopback N8n, the Slack sink."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dev.fake_n8n import FakeN8n, make_workflow
from nurture_ops.core.catalog import SCHEDULER
from tests.builders import utc

pytestmark = pytest.mark.e2e

DAG_ID = "nurture_weekly_review"
RUN = utc("2026-11-09 07:00")  # a Monday: the week is [2026-11-02 07:00, 2026-11-09 07:00)
DB_PARTS = ("query_performance", "scheduler_performance", "sender_performance", "unsubscribe_feedback")


def reports(sink, prefix: str = "[INFO] Weekly review") -> list[dict]:
    return [p for p in sink.payloads() if p["text"].startswith(prefix)]


def blocks_text(payload: dict) -> str:
    return "\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")


@pytest.fixture
def backups(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "workflow-backups"
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_WORKFLOW_BACKUP_URL", root.as_uri())
    return root


@pytest.fixture
def n8n(monkeypatch):
    server = FakeN8n([make_workflow(f"w{i}", f"Workflow {i}") for i in range(1, 4)], port=0).start()
    monkeypatch.setenv("AIRFLOW_CONN_N8N_API", server.connection_json())
    yield server
    server.stop()


def seed_week(rows) -> None:
    """Figures of the week: 1 scheduler minute over target, 1 sender minute short, 3 unsubscribes."""
    run = SCHEDULER
    rows.execution(run, at=utc("2026-11-02 06:59:59"), items=1000, duration_ms=90_000)  # before the week
    rows.execution(run, at=utc("2026-11-04 10:00:05"), items=1000, duration_ms=8_000)  # 8 s: on target
    rows.execution(run, at=utc("2026-11-04 10:01:05"), items=3000, duration_ms=33_000)  # 11 s per 1,000

    org = rows.org()
    welcome, webinar = rows.campaign(org, "Welcome series"), rows.campaign(org, "Webinar follow-up")
    # 3 due 09:00:30, sent 09:02:10: waiting at 09:01 with none sent (short by 3), all sent in 09:02.
    late = [
        rows.send(org, welcome, due=utc("2026-11-05 09:00:30"), sent_at=utc("2026-11-05 09:02:10"))
        for _ in range(3)
    ]
    for _ in range(2):  # sent within their minute: never waiting at a minute's start
        rows.send(org, welcome, due=utc("2026-11-05 10:00:10"), sent_at=utc("2026-11-05 10:00:40"))
    talk = rows.send(org, webinar, due=utc("2026-11-06 12:00:05"), sent_at=utc("2026-11-06 12:00:20"))
    rows.event(late[0], "unsubscribe", at=utc("2026-11-06 10:00"), payload={"reason": "Too many emails"})
    rows.event(late[1], "unsubscribe", at=utc("2026-11-07 10:00"), payload={"reason": "Too many emails"})
    rows.event(talk, "group_unsubscribe", at=utc("2026-11-07 11:00"), payload={"reason": "Not relevant"})
    rows.event(late[2], "unsubscribe", at=utc("2026-11-09 07:00"))  # at the week's end: next week


def test_weekly_review_states_the_weeks_figures(run_dag, rows, db, n8n, backups, slack_sink):
    seed_week(rows)
    db.execute("CREATE EXTENSION pg_stat_statements")
    # Three calls: on a busy shared server pg_stat_statements evicts the least used entries, and a
    # statement called once can be evicted before the review reads it.
    for _ in range(3):
        db.execute("SELECT PG_SLEEP(0.51), COUNT(*) AS weekly_slow_probe FROM email_sends")

    states = run_dag(DAG_ID, RUN)

    assert states["__run__"] == "success"
    ran = (*DB_PARTS, "export_workflow_definitions", "weekly_summary")
    assert {t: states[t] for t in ran} == dict.fromkeys(ran, "success")
    assert [p["text"] for p in slack_sink.payloads()] == [
        "[INFO] Weekly review: 1 slow statement over 500 ms; scheduler over 10 s per 1,000 enrollments in "
        "1 minute; sender under 100/min with a backlog in 1 minute; 2 unsubscribes (+1 group); "
        "3 workflows exported (first export)"
    ]
    text = blocks_text(slack_sink.payloads()[0])
    assert "*Week* 2026-11-02 07:00 UTC → 2026-11-09 07:00 UTC" in text
    # Query performance: the slow statement first, with the runbook's advice and scaling action.
    assert ":warning: 1 statement over 500 ms mean" in text
    assert ":warning: `SELECT PG_SLEEP($1), COUNT(*) AS weekly_slow_probe FROM email_sends`: mean 5" in text
    assert ", 3 calls\n" in text.split("weekly_slow_probe")[1]
    assert "If queries are slow, add indexes or optimize WHERE clauses" in text
    assert "*Scale Database (Supabase)*: 1. Upgrade Supabase plan (more resources)" in text
    # Scheduler: 2 runs in the week, 4,000 enrollments in 41 s.
    assert ":warning: 1 minute of 2 measured missed the target" in text
    assert "2 runs (0 without a duration), 4,000 enrollments, 10.25 s per 1,000 overall" in text
    assert (
        "• :warning: 2026-11-04 10:01 UTC: 3,000 enrollments in 33.0 s (allowed 30.0 s, 11.00 s per 1,000)\n"
        "• 2026-11-04 10:00 UTC: 1,000 enrollments in 8.0 s (allowed 10.0 s, 8.00 s per 1,000)"
    ) in text
    assert "1. Increase batch size 2. Add database read replicas 3. Optimize personalization queries" in text
    # Sender: 6 sent; 09:01 had 3 waiting and sent none.
    assert ":warning: 1 minute of 2 with a backlog sent fewer than LEAST(100, backlog)" in text
    assert "6 emails sent, peak 3 per minute, peak backlog 3" in text
    assert "• :warning: 2026-11-05 09:01 UTC: 0 sent, 3 waiting (expected 3, short by 3)" in text
    assert "1. Check SendGrid rate limits 2. Increase N8N_MAX_EMAILS_PER_MINUTE" in text
    # Unsubscribe feedback, worst campaign first.
    assert "2 unsubscribes and 1 group unsubscribe in 2 campaigns (worst first)" in text
    assert (
        "• *Welcome series*: 2 unsubscribes + 0 group (2 leads, 40.00% of 5 sent this week)"
        " — reasons: Too many emails (2)\n"
        "• *Webinar follow-up*: 0 unsubscribes + 1 group (1 lead, 0.00% of 1 sent this week)"
        " — reasons: Not relevant (1)"
    ) in text
    # The backup.
    assert f"3 workflows (3 active) exported to `{backups.as_uri()}/2026-11-09`" in text
    assert sorted(p.name for p in (backups / "2026-11-09").iterdir()) == [
        "manifest.json",
        "workflow-w1.json",
        "workflow-w2.json",
        "workflow-w3.json",
    ]


def test_second_page_and_a_changed_workflow_between_two_weekly_runs(run_dag, n8n, backups, slack_sink):
    n8n.workflows[:] = [make_workflow(f"w{i:03d}", f"Workflow {i:03d}") for i in range(1, 102)]  # 2 pages

    first = run_dag(DAG_ID, utc("2026-11-02 07:00"))

    assert first["export_workflow_definitions"] == "success"
    assert any("cursor" in query for query in n8n.queries)  # the second page was fetched
    assert len(list((backups / "2026-11-02").glob("workflow-*.json"))) == 101
    [report] = reports(slack_sink)
    assert report["text"].endswith("; 101 workflows exported (first export)")
    # No pg_stat_statements in this database: said, with how to enable it, and not a failure.
    text = blocks_text(report)
    assert ":information_source: Not available: the pg_stat_statements extension is not created" in text
    assert "*How to enable:* 1. Add pg_stat_statements to shared_preload_libraries" in text
    assert "pg_stat_statements not enabled (query review skipped)" in report["text"]

    n8n.workflow("w007")["nodes"].append({"id": "w007-wait", "name": "Wait", "type": "n8n-nodes-base.wait"})
    n8n.workflow("w050")["active"] = False
    n8n.workflows.append(make_workflow("w102", "Workflow 102"))

    second = run_dag(DAG_ID, RUN)

    assert second["export_workflow_definitions"] == "success"
    report = reports(slack_sink)[1]
    assert report["text"].endswith("; 102 workflows exported (3 changes)")
    text = blocks_text(report)
    assert f"102 workflows (101 active) exported to `{backups.as_uri()}/2026-11-09`" in text
    assert "Since 2026-11-02: 1 changed, 1 added, 0 removed, 1 deactivated, 0 activated" in text
    assert "• Changed: Workflow 007\n• Added: Workflow 102\n• Deactivated: Workflow 050" in text
    saved = json.loads((backups / "2026-11-09" / "workflow-w007.json").read_text())
    assert saved["nodes"][-1]["name"] == "Wait"
    assert len(json.loads((backups / "2026-11-02" / "workflow-w007.json").read_text())["nodes"]) == 1


def test_n8n_down_fails_the_export_but_the_summary_still_goes_out(
    run_dag, rows, backups, slack_sink, monkeypatch
):
    seed_week(rows)
    gone = FakeN8n([], port=0).start()
    monkeypatch.setenv("AIRFLOW_CONN_N8N_API", gone.connection_json())
    gone.stop()  # its port is closed now

    states = run_dag(DAG_ID, RUN)

    assert states["export_workflow_definitions"] == "failed"
    assert states["weekly_summary"] == "success"
    assert all(states[t] == "success" for t in DB_PARTS)
    # The run's state follows its leaf (the summary); the failed export shows red in the grid
    # and was posted by its failure callback.
    assert states["__run__"] == "success"
    texts = [p["text"] for p in slack_sink.payloads()]
    assert len(texts) == 2
    assert texts[0].startswith("[CRITICAL] Task failed: nurture_weekly_review.export_workflow_definitions")
    assert texts[1] == (
        "[INFO] Weekly review: scheduler over 10 s per 1,000 enrollments in 1 minute; sender under 100/min "
        "with a backlog in 1 minute; workflow export FAILED; pg_stat_statements not enabled (query review "
        "skipped); 2 unsubscribes (+1 group)"
    )
    text = blocks_text(slack_sink.payloads()[1])
    assert ":x: *Export FAILED*: no workflow definitions were backed up this week." in text
    assert "Could not connect to N8n for GET" in text and "connection refused" in text
    assert "3,000 enrollments in 33.0 s" in text  # the rest of the review is all there
    assert not backups.exists()


def test_database_unreachable_holds_back_its_parts_and_still_exports(
    run_dag, n8n, backups, slack_sink, monkeypatch
):
    from tests.conftest import leads_db_connection_json

    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB", leads_db_connection_json("x", port=1))

    states = run_dag(DAG_ID, RUN)

    assert states["database_unreachable"] == "success"
    assert all(states[t] == "skipped" for t in DB_PARTS)
    assert states["export_workflow_definitions"] == "success"
    [report] = slack_sink.payloads()
    assert report["text"] == (
        "[INFO] Weekly review: not reviewed (database unreachable): query_performance, scheduler_performance, "
        "sender_performance, unsubscribe_feedback, sendgrid_deliverability; 3 workflows exported (first export)"
    )
    assert "held back" in blocks_text(report)
