"""nurture_alerts_5min end to end: dag.test() against a real PostgreSQL and the HTTP Slack sink."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.builders import Seed, at

pytestmark = pytest.mark.e2e

T0 = at("2026-06-01", 12, 0)
FIVE = timedelta(minutes=5)


def add_window(
    seed: Seed,
    campaign: int,
    lead: int,
    end,
    *,
    sent: int,
    failed: int,
    reason="SendGrid 429 Too Many Requests",
):
    """`sent` + `failed` sends created inside the 5 minutes before `end`."""
    for i in range(sent + failed):
        created = end - timedelta(seconds=10 + i % 250)
        is_failed = i < failed
        seed.send(
            lead,
            campaign,
            status="failed" if is_failed else "sent",
            created_at=created,
            sent_at=None if is_failed else created,
            failure_reason=reason if is_failed else None,
        )


@pytest.fixture
def world(db):
    seed = Seed(db)
    org = seed.org("Acme Corp")
    campaign = seed.campaign(org, "Welcome series")
    lead = seed.lead(org)
    return seed, campaign, lead


def texts(sink) -> list[str]:
    return [p["text"] for p in sink.payloads()]


def test_failure_rate_fires_once_resolves_once_and_reminds(run_dag, world, slack_sink, db):
    seed, campaign, lead = world
    add_window(seed, campaign, lead, T0, sent=28, failed=12)

    states = run_dag("nurture_alerts_5min", T0)
    assert states["__run__"] == "success"
    assert states["high_email_failure_rate.notify"] == "success"
    assert states["high_email_failure_rate.remediate"] == "skipped"  # remediation is off by default
    assert texts(slack_sink) == [
        "[CRITICAL] High Email Failure Rate: 30.0% of 40 emails failed in the last 5 minutes (threshold 10%)"
    ]
    message = slack_sink.payloads()[0]
    body = json.dumps(message["blocks"])
    assert "Acme Corp: 12 of 40" in body  # top organizations
    assert "SendGrid 429 Too Many Requests: 12" in body  # top failure reasons
    assert "Check SendGrid API status" in body  # runbook actions
    assert message["blocks"][0]["type"] == "header"

    # Still failing five minutes later: recorded, not sent again.
    add_window(seed, campaign, lead, T0 + FIVE, sent=10, failed=10)
    states = run_dag("nurture_alerts_5min", T0 + FIVE)
    assert states["high_email_failure_rate.notify"] == "skipped"
    assert len(slack_sink.payloads()) == 1

    # Healthy window: exactly one [RESOLVED].
    add_window(seed, campaign, lead, T0 + 2 * FIVE, sent=50, failed=1)
    run_dag("nurture_alerts_5min", T0 + 2 * FIVE)
    assert texts(slack_sink)[1] == (
        "[RESOLVED] High Email Failure Rate: 2.0% of 51 emails failed in the last 5 minutes (threshold 10%)"
    )

    # Fires again, then keeps firing past the 4 h repeat interval: one reminder.
    fire_again = T0 + 3 * FIVE
    add_window(seed, campaign, lead, fire_again, sent=5, failed=5)
    run_dag("nurture_alerts_5min", fire_again)
    later = fire_again + timedelta(hours=4, minutes=5)
    add_window(seed, campaign, lead, later, sent=5, failed=5)
    run_dag("nurture_alerts_5min", later)
    assert [t.split(":")[0] for t in texts(slack_sink)] == [
        "[CRITICAL] High Email Failure Rate",
        "[RESOLVED] High Email Failure Rate",
        "[CRITICAL] High Email Failure Rate",
        "[CRITICAL] High Email Failure Rate (still firing)",
    ]
    sent = db.execute("SELECT kind FROM nurture_ops.alert_notifications ORDER BY id").fetchall()
    assert [k for (k,) in sent] == ["fire", "resolve", "fire", "remind"]


def test_empty_window_is_no_data_not_zero(run_dag, world, slack_sink, db):
    states = run_dag("nurture_alerts_5min", T0)
    assert states["__run__"] == "success"
    assert states["high_email_failure_rate.nothing_to_do"] == "success"
    assert slack_sink.payloads() == []
    status = db.execute(
        "SELECT status FROM nurture_ops.alert_state WHERE alert_key = 'high_email_failure_rate'"
    )
    assert status.fetchone() == ("no_data",)


def test_slack_down_fails_the_run_and_the_next_run_delivers(run_dag, world, slack_sink):
    seed, campaign, lead = world
    add_window(seed, campaign, lead, T0, sent=5, failed=5)
    slack_sink.fail_next(2, status=500)  # the alert, then the failure callback
    states = run_dag("nurture_alerts_5min", T0)
    assert states["high_email_failure_rate.notify"] == "failed"
    assert states["__run__"] == "failed"
    assert slack_sink.payloads() == []

    add_window(seed, campaign, lead, T0 + FIVE, sent=5, failed=5)
    states = run_dag("nurture_alerts_5min", T0 + FIVE)
    assert states["__run__"] == "success"
    assert texts(slack_sink) == [
        "[CRITICAL] High Email Failure Rate: 50.0% of 10 emails failed in the last 5 minutes (threshold 10%)"
    ]


def test_database_down_sends_one_alert_and_nothing_else(run_dag, world, slack_sink, monkeypatch, leads_db):
    from tests.conftest import leads_db_connection_json

    seed, campaign, lead = world
    add_window(seed, campaign, lead, T0, sent=5, failed=5)
    good = leads_db_connection_json(leads_db.rsplit("/", 1)[1])
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB", leads_db_connection_json("x", port=1))  # nothing listens on 1

    states = run_dag("nurture_alerts_5min", T0)
    assert states["__run__"] == "success"
    assert states["high_email_failure_rate.measure"] == "skipped"
    assert texts(slack_sink) == [
        "[CRITICAL] Database Connection Lost: the lead-nurture database is unreachable "
        + texts(slack_sink)[0].split("unreachable ", 1)[1]
    ]
    assert "(refused:" in texts(slack_sink)[0]
    assert "Check Supabase status" in json.dumps(slack_sink.payloads()[0]["blocks"])

    run_dag("nurture_alerts_5min", T0 + FIVE)  # still down: no repeat inside the interval
    assert len(slack_sink.payloads()) == 1

    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB", good)
    states = run_dag("nurture_alerts_5min", T0 + 2 * FIVE)
    assert states["database_connection_lost"] == "success"
    assert texts(slack_sink)[1].startswith(
        "[RESOLVED] Database Connection Lost: the database is reachable again"
    )
    # The checks ran in the same run: the failure-rate window is empty now, so no data.
    assert states["high_email_failure_rate.decide"] == "success"


def test_threshold_override_from_variable(run_dag, world, slack_sink, monkeypatch):
    seed, campaign, lead = world
    add_window(seed, campaign, lead, T0, sent=30, failed=10)  # 25%
    monkeypatch.setenv(
        "AIRFLOW_VAR_NURTURE_OPS_THRESHOLDS",
        json.dumps({"high_email_failure_rate": {"failure_rate": {"alert": 30}}}),
    )
    states = run_dag("nurture_alerts_5min", T0)
    assert states["high_email_failure_rate.nothing_to_do"] == "success"
    assert slack_sink.payloads() == []


def test_invalid_override_fails_with_the_key_named(run_dag, world, slack_sink, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_VAR_NURTURE_OPS_THRESHOLDS",
        json.dumps({"high_email_failure_rate": {"failure_rat": {"alert": 30}}}),
    )
    states = run_dag("nurture_alerts_5min", T0)
    assert states["high_email_failure_rate.measure"] == "failed"
    (failure,) = texts(slack_sink)
    assert failure.startswith("[CRITICAL] Task failed: nurture_alerts_5min.high_email_failure_rate.measure")
    assert "nurture_ops_thresholds.high_email_failure_rate.failure_rat: unknown metric" in failure


@pytest.mark.parametrize("mode", ["dry_run", "apply"])
def test_pause_sender_remediation_through_the_n8n_api(run_dag, world, slack_sink, monkeypatch, db, mode):
    from dev.fake_n8n import FakeN8n, demo_workflows

    seed, campaign, lead = world
    add_window(seed, campaign, lead, T0, sent=5, failed=5)
    n8n = FakeN8n(demo_workflows(), port=0).start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_N8N_API", n8n.connection_json())
        monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_REMEDIATION", json.dumps({"pause_sender_workflow": mode}))
        states = run_dag("nurture_alerts_5min", T0)
        sender = next(w for w in n8n.workflows if w["name"] == "Lead Nurture - Email Sender")
        deactivations = [c for c in n8n.calls if c[0] == "POST" and c[1].endswith("/deactivate")]
    finally:
        n8n.stop()
    assert states["high_email_failure_rate.remediate"] == "success"
    assert states["high_email_failure_rate.notify"] == "success"
    audit = db.execute(
        "SELECT mode, outcome, rows_counted, rows_changed FROM nurture_ops.remediation_audit"
    ).fetchall()
    body = json.dumps(slack_sink.payloads()[0]["blocks"])
    if mode == "dry_run":
        assert audit == [("dry_run", "dry_run", 1, 0)]
        assert sender["active"] is True and deactivations == []
        assert "dry run: 1 rows would change" in body
    else:
        assert audit == [("apply", "applied", 1, 1)]
        assert sender["active"] is False and len(deactivations) == 1
        assert "is now inactive in N8n" in body


def test_n8n_unreachable_fails_the_remediation_but_the_alert_still_goes_out(
    run_dag, world, slack_sink, monkeypatch
):
    seed, campaign, lead = world
    add_window(seed, campaign, lead, T0, sent=5, failed=5)
    monkeypatch.setenv(
        "AIRFLOW_CONN_N8N_API",
        json.dumps({"conn_type": "http", "host": "http://127.0.0.1:1", "password": "k"}),
    )
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_REMEDIATION", json.dumps({"pause_sender_workflow": "apply"}))
    states = run_dag("nurture_alerts_5min", T0)
    assert states["high_email_failure_rate.remediate"] == "failed"
    assert states["high_email_failure_rate.notify"] == "success"
    sent = texts(slack_sink)
    alert = next(
        p for p in slack_sink.payloads() if p["text"].startswith("[CRITICAL] High Email Failure Rate")
    )
    assert "the remediate task failed" in json.dumps(alert["blocks"])
    assert any(
        t.startswith("[CRITICAL] Task failed: nurture_alerts_5min.high_email_failure_rate.remediate")
        for t in sent
    )


def test_a_persistent_task_failure_is_posted_once_then_after_the_repeat_interval(
    run_dag, world, slack_sink, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_THRESHOLDS", "{not json")
    for minutes in (0, 5, 10):
        run_dag("nurture_alerts_5min", T0 + timedelta(minutes=minutes))
    run_dag("nurture_alerts_5min", T0 + timedelta(hours=4, minutes=5))
    failures = [t for t in texts(slack_sink) if t.startswith("[CRITICAL] Task failed")]
    assert len(failures) == 2
    assert "nurture_ops_thresholds is not valid JSON" in failures[0]


def test_task_failures_are_posted_even_without_the_database(run_dag, world, slack_sink, monkeypatch):
    from nurture_ops.alerting import notify

    class TI:
        dag_id, task_id, log_url = "nurture_alerts_5min", "some_task", None

    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB", '{"conn_type": "postgres", "host": "127.0.0.1", "port": 1}')
    notify.task_failure_callback({"ti": TI(), "exception": RuntimeError("boom"), "logical_date": T0})
    assert texts(slack_sink) == ["[CRITICAL] Task failed: nurture_alerts_5min.some_task: RuntimeError: boom"]
