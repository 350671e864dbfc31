"""The checks that look outside the database, in their DAGs (dag.test() against the real PostgreSQL,
the Slack sink and the HTTP stand-ins): the N8n queue backlog (15 min), SendGrid's status in the
High Email Failure Rate alert and the pause-sender audit row (5 min), the backup verification in
the daily digest and its warning (daily)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from dev.fake_n8n import FakeN8n, demo_executions, demo_workflows
from dev.fake_supabase import backup
from tests.alerting.test_alerts_5min_dag import add_window
from tests.builders import Seed, at

pytestmark = pytest.mark.e2e

T0 = at("2026-06-01", 12, 0)
MORNING = at("2026-06-01", 7, 0)


@pytest.fixture
def world(db):
    seed = Seed(db)
    org = seed.org("Acme Corp")
    campaign = seed.campaign(org, "Welcome series")
    lead = seed.lead(org)
    return seed, campaign, lead


@pytest.fixture
def n8n(monkeypatch):
    server = FakeN8n(demo_workflows(), port=0, executions=demo_executions()).start()
    monkeypatch.setenv("AIRFLOW_CONN_N8N_API", server.connection_json())
    yield server
    server.stop()


def titled(sink, title: str) -> list[dict]:
    return [p for p in sink.payloads() if title in p["text"]]


def test_queue_backlog_warns_once_past_100_and_resolves(run_dag, slack_sink, n8n, db):
    n8n.set_backlog(waiting=148, running=4)

    states = run_dag("nurture_alerts_15min", T0)

    assert states["n8n_execution_queue_backlog.notify"] == "success"
    (alert,) = titled(slack_sink, "N8n Execution Queue Backlog")
    assert alert["text"] == (
        "[WARNING] N8n Execution Queue Backlog: N8n workflow executions waiting or running: more than 100 "
        "(counting stopped at 148: 148 waiting) (threshold 100)"
    )
    body = json.dumps(alert["blocks"])
    assert "Deploy multiple N8n instances" in body and "Use queue mode for workflows" in body  # Scale N8n
    # 100 per page: two pages of waiting ones, then it stops (the running ones are never asked for).
    assert [q["status"] for q in n8n.queries if "status" in q] == [["waiting"], ["waiting"]]

    n8n.set_backlog(waiting=4, running=2)
    states = run_dag("nurture_alerts_15min", T0 + timedelta(minutes=15))
    (resolved,) = titled(slack_sink, "[RESOLVED] N8n Execution Queue Backlog")
    assert "6 (4 waiting, 2 running)" in resolved["text"]


def test_failure_alert_carries_sendgrid_status_and_the_fix_names_the_incident(
    run_dag, world, slack_sink, fake_sendgrid, n8n, monkeypatch, db
):
    seed, campaign, lead = world
    add_window(seed, campaign, lead, T0, sent=5, failed=5)
    fake_sendgrid.open_incident("Elevated API error rates on mail send", impact="major")
    monkeypatch.setenv(
        "AIRFLOW_VAR_NURTURE_OPS_REMEDIATION", json.dumps({"pause_sender_workflow": "dry_run"})
    )

    states = run_dag("nurture_alerts_5min", T0)

    assert states["high_email_failure_rate.notify"] == "success"
    assert fake_sendgrid.calls.count(("GET", "/api/v2/summary.json")) == 1
    (alert,) = titled(slack_sink, "High Email Failure Rate")
    body = alert["blocks"][1]["text"]["text"]
    assert (
        "SendGrid status: Partial System Outage (indicator major); unresolved incidents: Elevated API error "
        "rates on mail send (investigating, impact major). Cause likely upstream" in body
    )
    (reason,) = db.execute("SELECT reason FROM nurture_ops.remediation_audit").fetchone()
    assert reason.startswith("High Email Failure Rate: 50.0% of 10 emails failed in the last 5 minutes; ")
    assert "Elevated API error rates on mail send" in reason and "Cause likely upstream" in reason


def test_failure_alert_says_status_unknown_when_the_page_cannot_be_fetched(run_dag, world, slack_sink):
    seed, campaign, lead = world
    add_window(seed, campaign, lead, T0, sent=5, failed=5)  # sendgrid_status: a closed port (conftest)

    run_dag("nurture_alerts_5min", T0)

    (alert,) = titled(slack_sink, "High Email Failure Rate")
    assert (
        "SendGrid status unknown: could not connect to SendGrid status page"
        in alert["blocks"][1]["text"]["text"]
    )


def test_daily_digest_verifies_backups_and_warns_when_missing(run_dag, slack_sink, fake_supabase, db):
    fake_supabase.backups = [backup(MORNING - timedelta(hours=30)), backup(MORNING - timedelta(hours=54))]

    states = run_dag("nurture_daily_health", MORNING)

    assert states["database_backup_missing.notify"] == "success"
    (warning,) = titled(slack_sink, "Database Backup Missing")
    assert warning["text"] == (
        "[WARNING] Database Backup Missing: the latest completed backup is 30 h old (limit 26 h) (threshold 0)"
    )
    body = json.dumps(warning["blocks"])
    assert "Restore Database (30 minutes): Restore from Supabase backup" in body
    assert "Verify all tables present" in body and "Run schema validation queries" in body
    (digest,) = titled(slack_sink, "Daily health digest")
    assert "*Database backup*: the latest completed backup is 30 h old (limit 26 h)" in json.dumps(
        digest["blocks"], ensure_ascii=False
    )
