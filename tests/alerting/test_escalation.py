"""The escalation matrix (issue 12): PagerDuty trigger / resolve exactly once each across runs,
reminders and a failing PagerDuty, tracked apart from Slack; escalation of an unacknowledged
High alert to slack_escalation, once. Real PostgreSQL, the HTTP Slack sink and PagerDuty stand-in."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from dev.fake_pagerduty import validate
from dev.slack_sink import SlackSink
from nurture_ops.alerting import state as alert_state
from nurture_ops.core.escalation import LEVELS, dedup_key, level_for, matrix_line
from nurture_ops.core.evaluate import Finding
from nurture_ops.integrations.pagerduty import PagerDutyError, PagerDutyEvents, event_body
from tests.alerting.test_organizations import add_sends
from tests.builders import Seed, at

T0 = at("2026-06-01", 12, 0)
FIVE = timedelta(minutes=5)


# --- pure ---------------------------------------------------------------------------------------


def test_matrix_levels_and_lines():
    assert level_for("critical").name == "Critical" and level_for("warning").name == "High"
    assert level_for("medium").name == "Medium" and level_for(None).name == "Low"
    assert (
        matrix_line(LEVELS["high"])
        == "High · respond within 1 hour · escalates to Team lead → Engineering manager"
    )
    assert dedup_key("high_email_failure_rate", "") == "high_email_failure_rate"
    assert dedup_key("high_email_failure_rate", "org-1") == "high_email_failure_rate/org-1"


def test_event_bodies_are_what_the_events_api_accepts():
    trigger = event_body("rk", "trigger", "k/1", summary="s", custom_details={"a": 1}, links=[{"href": "h"}])
    assert validate(trigger) == [] and trigger["payload"]["severity"] == "critical"
    resolve = event_body("rk", "resolve", "k/1")
    assert validate(resolve) == [] and "payload" not in resolve
    with pytest.raises(ValueError):
        event_body("rk", "explode", "k")


def row(**over):
    base = {
        "alert_key": "high_bounce_rate",
        "scope": "",
        "firing": True,
        "severity": "warning",
        "silenced": False,
        "inhibited_by": None,
        "first_fired_at": T0,
        "episode": None,
        "delivered_state": None,
    }
    return {**base, **over}


def test_escalation_due_after_the_response_time_once_per_firing():
    assert not alert_state.escalation_due(row(), T0 + timedelta(minutes=59))
    assert alert_state.escalation_due(row(), T0 + timedelta(hours=1))
    assert not alert_state.escalation_due(row(episode=T0), T0 + timedelta(hours=2))  # escalated already
    assert not alert_state.escalation_due(row(silenced=True), T0 + timedelta(hours=2))
    assert not alert_state.escalation_due(row(firing=False), T0 + timedelta(hours=2))
    assert alert_state.escalation_due(row(severity="critical"), T0 + timedelta(minutes=15))
    # Acknowledged (Lead Nurture page) at its severity or above: someone is on it, no escalation;
    # an acknowledgement of a lower severity does not cover it.
    acked = {"acknowledged_at": T0 + timedelta(minutes=5)}
    assert not alert_state.escalation_due(
        row(**acked, acknowledged_severity="warning"), T0 + timedelta(hours=2)
    )
    assert alert_state.escalation_due(
        row(severity="critical", **acked, acknowledged_severity="warning"), T0 + timedelta(hours=2)
    )


def test_page_action():
    assert alert_state.page_action(row(severity="critical")) == "trigger"
    assert alert_state.page_action(row(severity="critical", delivered_state="triggered")) is None
    assert alert_state.page_action(row(severity="warning")) is None  # High: Slack and escalation only
    assert alert_state.page_action(row(severity="critical", inhibited_by="high_email_failure_rate")) is None
    assert alert_state.page_action(row(firing=False, delivered_state="triggered")) == "resolve"
    assert alert_state.page_action(row(firing=False, delivered_state="resolved")) is None


def test_client_retries_5xx_and_fails_clearly_on_a_bad_key(fake_pagerduty):
    from airflow.sdk import Connection

    conn = Connection(conn_id="pagerduty_events", conn_type="http", host=fake_pagerduty.url, password="rk")
    client = PagerDutyEvents(conn, timeout=5, attempts=2, retry_wait_s=0.01)
    fake_pagerduty.fail_next(1, 500)
    assert client.send("trigger", "k", summary="s") == "k"
    assert [e["event_action"] for e in fake_pagerduty.events()] == ["trigger"]
    fake_pagerduty.fail_next(2, 429)
    with pytest.raises(PagerDutyError, match="returned 429"):
        client.send("resolve", "k")
    with pytest.raises(PagerDutyError, match="integration key is empty"):
        PagerDutyEvents(Connection(conn_id="pagerduty_events", conn_type="http", host=fake_pagerduty.url))


# --- whole DAG ----------------------------------------------------------------------------------


def events(pd) -> list[tuple[str, str]]:
    return [(e["event_action"], e["dedup_key"]) for e in pd.events()]


@pytest.mark.e2e
def test_pagerduty_trigger_and_resolve_exactly_once_across_runs_reminders_and_a_500(
    run_dag, db, slack_sink, fake_pagerduty
):
    seed = Seed(db)
    noisy, quiet = seed.org("Noisy Co"), seed.org("Quiet Inc")
    noisy_key = f"high_email_failure_rate/{noisy}"

    # A noisy organization fires on its own (global 25 of 525 = 4.8 %): its incident is triggered.
    add_sends(seed, noisy, T0, sent=0, failed=25)
    add_sends(seed, quiet, T0, sent=500, failed=0)
    states = run_dag("nurture_alerts_5min", T0)
    assert states["page_and_escalate"] == "success"
    assert events(fake_pagerduty) == [("trigger", noisy_key)]
    trigger = fake_pagerduty.events()[0]
    assert trigger["payload"]["summary"].startswith("[CRITICAL] High Email Failure Rate: Noisy Co: 100.0%")
    details = trigger["payload"]["custom_details"]
    assert details["runbook_actions"][0].startswith("Check SendGrid API status")
    assert "airflow_run" in details and trigger["links"][0]["href"] == details["airflow_run"]

    # Still firing, then past the reminder interval: Slack reminds, PagerDuty hears nothing.
    later = T0 + timedelta(hours=4, minutes=5)
    for when in (T0 + FIVE, later):
        add_sends(seed, noisy, when, sent=0, failed=25)
        add_sends(seed, quiet, when, sent=500, failed=0)
        run_dag("nurture_alerts_5min", when)
    assert "still firing" in slack_sink.payloads()[-1]["text"] or "reminder" in json.dumps(
        slack_sink.payloads()[-1]
    )
    assert events(fake_pagerduty) == [("trigger", noisy_key)]

    # The global alert fires too (its own incident); PagerDuty then fails every attempt of a run:
    # the sweep fails, Slack still got its message, and the next run triggers it once.
    fire = later + FIVE
    add_sends(seed, noisy, fire, sent=0, failed=25)
    add_sends(seed, quiet, fire, sent=50, failed=50)
    fake_pagerduty.fail_next(2, 500)  # both attempts of the one call
    slack_before = len(slack_sink.payloads())
    states = run_dag("nurture_alerts_5min", fire)
    assert states["page_and_escalate"] == "failed"
    assert states["high_email_failure_rate.notify"] == "success"
    assert slack_sink.payloads()[slack_before]["text"].startswith("[CRITICAL] High Email Failure Rate: ")
    assert events(fake_pagerduty) == [("trigger", noisy_key)]
    again = fire + FIVE
    add_sends(seed, noisy, again, sent=0, failed=25)
    add_sends(seed, quiet, again, sent=50, failed=50)
    run_dag("nurture_alerts_5min", again)
    assert events(fake_pagerduty) == [("trigger", noisy_key), ("trigger", "high_email_failure_rate")]

    # Everything recovers: one resolve each, and nothing more on the next run.
    for when in (again + FIVE, again + 2 * FIVE):
        add_sends(seed, noisy, when, sent=25, failed=0)
        add_sends(seed, quiet, when, sent=500, failed=0)
        run_dag("nurture_alerts_5min", when)
    assert sorted(events(fake_pagerduty)[2:]) == [
        ("resolve", "high_email_failure_rate"),
        ("resolve", noisy_key),
    ]
    assert len(fake_pagerduty.events()) == 4
    assert fake_pagerduty.open_incidents() == []


@pytest.mark.e2e
def test_unacknowledged_high_alert_past_its_response_time_is_escalated_once(db, monkeypatch, tmp_path):
    """Driven through the state functions the sweep uses (a High alert of the daily DAG would need
    a day between runs): fired at T0, escalated by the first sweep one hour later, never again."""
    from nurture_ops.alerting import escalation

    escalation_sink = SlackSink(port=0, jsonl_path=tmp_path / "escalation.jsonl", quiet=True).start()
    try:
        finding = Finding(
            "high_bounce_rate",
            "High Bounce Rate",
            "warning",
            "12% of 500 emails bounced",
            {"bounce_rate": 12},
        )
        alert_state.ensure_schema(db)
        alert_state.record(db, finding, evaluated_at=T0, repeat_interval=timedelta(hours=4))
        run = {"run_url": None, "dag_id": "nurture_alerts_5min", "run_id": "r"}
        assert escalation.escalate(db, T0 + timedelta(minutes=30), **run) == {"escalation": []}
        # nurture_ops_escalation shortens the wait (the levels the sweep passes).
        from nurture_ops.core.settings import parse_escalation

        quick = parse_escalation({"high": {"escalate_after_minutes": 20}})
        assert escalation.escalate(db, T0 + timedelta(minutes=30), **run, levels=quick) == {
            "escalation": "not configured"
        }
        # Past the hour without slack_escalation: not configured, nothing recorded.
        assert escalation.escalate(db, T0 + timedelta(hours=1), **run) == {"escalation": "not configured"}
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ESCALATION", escalation_sink.connection_json())
        assert escalation.escalate(db, T0 + timedelta(hours=1, minutes=5), **run) == {
            "escalation": ["high_bounce_rate/"]
        }
        assert escalation.escalate(db, T0 + timedelta(hours=2), **run) == {"escalation": []}
        (message,) = escalation_sink.payloads()
        assert message["text"].startswith(
            "[ESCALATED] High: 1 alert(s) unacknowledged past their response time"
        )
        assert "Team lead → Engineering manager" in json.dumps(message["blocks"], ensure_ascii=False)
    finally:
        escalation_sink.stop()


def test_escalation_waits_come_from_the_variable_and_bad_values_name_the_key():
    from nurture_ops.core.settings import InvalidOverride, parse_escalation

    levels = parse_escalation('{"critical": {"escalate_after_minutes": 5}}')
    assert levels["critical"].escalate_after == timedelta(minutes=5)
    assert levels["high"].escalate_after == timedelta(hours=1)  # the runbook's
    assert alert_state.escalation_due(row(severity="critical"), T0 + timedelta(minutes=5), levels)
    with pytest.raises(
        InvalidOverride, match=r"nurture_ops_escalation\.high\.escalate_after_minutes must be"
    ):
        parse_escalation({"high": {"escalate_after_minutes": "60"}})


@pytest.mark.e2e
def test_database_outage_pages_pagerduty_apart_from_slack(
    run_dag, db, slack_sink, fake_pagerduty, monkeypatch, leads_db
):
    """Database Connection Lost keeps its state in Variables (the database is down): PagerDuty's
    page has its own, so PagerDuty failing neither blocks Slack nor makes it post twice."""
    from tests.conftest import leads_db_connection_json

    good = leads_db_connection_json(leads_db.rsplit("/", 1)[1])
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB", leads_db_connection_json("x", port=1))  # nothing listens on 1
    fake_pagerduty.fail_next(2, 500)  # both attempts of the trigger
    states = run_dag("nurture_alerts_5min", T0)
    assert states["database_connection_lost"] == "failed"  # PagerDuty failed; Slack got it
    slack = [p["text"] for p in slack_sink.payloads()]
    assert slack[0].startswith("[CRITICAL] Database Connection Lost")
    assert events(fake_pagerduty) == []

    run_dag("nurture_alerts_5min", T0 + FIVE)  # Slack: nothing new; PagerDuty: the trigger, once
    assert [p["text"] for p in slack_sink.payloads()][len(slack) :] == []
    assert events(fake_pagerduty) == [("trigger", "database_connection_lost")]
    assert fake_pagerduty.events()[0]["payload"]["summary"].startswith(
        "[CRITICAL] Database Connection Lost: the lead-nurture database is unreachable"
    )
    run_dag("nurture_alerts_5min", T0 + 2 * FIVE)
    assert len(fake_pagerduty.events()) == 1

    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB", good)
    states = run_dag("nurture_alerts_5min", T0 + 3 * FIVE)
    assert states["database_connection_lost"] == "success"
    assert slack_sink.payloads()[-1]["text"].startswith("[RESOLVED] Database Connection Lost")
    assert events(fake_pagerduty) == [
        ("trigger", "database_connection_lost"),
        ("resolve", "database_connection_lost"),
    ]
    run_dag("nurture_alerts_5min", T0 + 4 * FIVE)
    assert len(fake_pagerduty.events()) == 2


@pytest.mark.e2e
def test_an_acknowledged_high_alert_is_not_escalated(db, monkeypatch, tmp_path):
    """Acknowledged on the page before its response time passed: the sweep past the hour sends
    nothing to slack_escalation; once it resolves and fires again, the new firing escalates."""
    from nurture_ops.alerting import escalation

    escalation_sink = SlackSink(port=0, jsonl_path=tmp_path / "escalation.jsonl", quiet=True).start()
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ESCALATION", escalation_sink.connection_json())
    firing = Finding("high_bounce_rate", "High Bounce Rate", "warning", "12% bounced", {"bounce_rate": 12})
    healthy = Finding("high_bounce_rate", "High Bounce Rate", "ok", "2% bounced", {"bounce_rate": 2})
    run = {"run_url": None, "dag_id": "nurture_daily_health", "run_id": "r"}
    try:
        alert_state.ensure_schema(db)
        alert_state.record(db, firing, evaluated_at=T0, repeat_interval=timedelta(hours=4))
        alert_state.acknowledge(
            db, "high_bounce_rate", by="alice", reason="on it", at=T0 + timedelta(minutes=10)
        )
        assert escalation.escalate(db, T0 + timedelta(hours=2), **run) == {"escalation": []}
        assert escalation_sink.payloads() == []
        # Resolved (the acknowledgement ends), then firing again: escalated after its hour.
        alert_state.record(
            db, healthy, evaluated_at=T0 + timedelta(hours=3), repeat_interval=timedelta(hours=4)
        )
        second = T0 + timedelta(hours=4)
        alert_state.record(db, firing, evaluated_at=second, repeat_interval=timedelta(hours=4))
        assert escalation.escalate(db, second + timedelta(hours=1), **run) == {
            "escalation": ["high_bounce_rate/"]
        }
        assert len(escalation_sink.payloads()) == 1
    finally:
        escalation_sink.stop()


# --- faults where the features meet --------------------------------------------------------------


def _org_finding(org: str, status: str) -> Finding:
    summary = f"{org}: 100.0% of 30 emails failed" if status == "critical" else f"{org}: no data (5 sends)"
    return Finding("high_email_failure_rate", "High Email Failure Rate", status, summary, {}, scope=org)


def test_an_inhibited_organization_with_no_data_stays_inhibited_and_is_not_paged(db):
    """A window under the minimum volume (no data) keeps the state as it was, inhibition included:
    the organization held back by the firing global alert must not be paged by the sweep."""
    alert_state.ensure_schema(db)
    org = "4f1c0000-0000-0000-0000-000000000001"
    week = timedelta(hours=4)
    alert_state.record(
        db,
        _org_finding(org, "critical"),
        evaluated_at=T0,
        repeat_interval=week,
        inhibitor_firing="high_email_failure_rate",
    )
    alert_state.record(db, _org_finding(org, "no_data"), evaluated_at=T0 + FIVE, repeat_interval=week)
    (row,) = [
        r
        for r in alert_state.delivery_candidates(db, alert_state.PAGERDUTY, ["high_email_failure_rate"])
        if r["scope"] == org
    ]
    assert row["firing"] and row["inhibited_by"] == "high_email_failure_rate"
    assert alert_state.page_action(row) is None


def test_paging_past_its_deadline_leaves_the_events_for_the_next_run(db, fake_pagerduty):
    """A PagerDuty that times out on every call must not run the sweep past its try: past the
    deadline no event is started, and the next sweep sends it, once."""
    import time

    from nurture_ops.alerting import escalation

    alert_state.ensure_schema(db)
    critical = Finding("high_email_failure_rate", "High Email Failure Rate", "critical", "30% failed", {})
    alert_state.record(db, critical, evaluated_at=T0, repeat_interval=timedelta(hours=4))
    run = {"run_url": None, "dag_id": "nurture_alerts_5min", "run_id": "r"}
    late = escalation.page(db, T0, **run, deadline=time.monotonic() - 1)
    assert late == {"pagerduty": [], "pagerduty_left_for_next_run": 1}
    assert fake_pagerduty.events() == []
    assert escalation.page(db, T0 + FIVE, **run) == {"pagerduty": ["trigger high_email_failure_rate"]}
    assert escalation.page(db, T0 + 2 * FIVE, **run) == {"pagerduty": []}
    assert events(fake_pagerduty) == [("trigger", "high_email_failure_rate")]


@pytest.mark.e2e
def test_a_bad_escalation_variable_fails_the_sweep_but_still_pages(run_dag, db, fake_pagerduty, monkeypatch):
    """nurture_ops_escalation is read by the escalation step only: a bad value fails the task
    (its message names the key) after PagerDuty heard the critical alert."""
    monkeypatch.setenv(
        "AIRFLOW_VAR_NURTURE_OPS_ESCALATION", json.dumps({"high": {"escalate_after_minutes": -5}})
    )
    seed = Seed(db)
    org = seed.org("Acme Corp")
    add_sends(seed, org, T0, sent=50, failed=50)
    states = run_dag("nurture_alerts_5min", T0)
    assert states["page_and_escalate"] == "failed"
    assert events(fake_pagerduty) == [("trigger", "high_email_failure_rate")]
