"""Over its cap, the alert's remediate task asks for approval through the Task SDK (a run of
nurture_remediation_approval with the fix's key, counts and a sample) and does not wait: the check
group (measure, decide, remediate, notify of High Bounce Rate) runs with dag.test() against the real
PostgreSQL, the Slack message links to the pending request, and nothing is changed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from nurture_ops.alerting import approval
from tests.builders import Seed, at
from tests.daily_health.test_measures import DAY, seed_bounces

pytestmark = pytest.mark.e2e
RUN_AT = at(DAY + timedelta(days=1), 7)


def test_over_the_cap_the_alert_requests_approval_and_goes_on(run_dag, db, slack_sink, monkeypatch):
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    monkeypatch.setenv(
        "AIRFLOW_VAR_NURTURE_OPS_REMEDIATION", json.dumps({"invalidate_hard_bounce_leads": {"max_rows": 1}})
    )
    seed_bounces(Seed(db))
    states = run_dag("nurture_daily_health", RUN_AT)

    assert states["__run__"] == "success", states
    assert states["high_bounce_rate.remediate"] == "success"
    with create_session() as session:
        run_id = (
            session.query(DagRun.run_id)
            .filter(DagRun.dag_id == "nurture_daily_health", DagRun.logical_date == RUN_AT)
            .scalar()
        )
        expected_run = approval.approval_run_id(
            "invalidate_hard_bounce_leads", "nurture_daily_health", run_id
        )
        requested = (
            session.query(DagRun)
            .filter(DagRun.dag_id == approval.APPROVAL_DAG_ID, DagRun.run_id == expected_run)
            .all()
        )
        assert len(requested) == 1
        conf = requested[0].conf
    counted = db.execute(
        "SELECT rows_counted FROM nurture_ops.remediation_audit WHERE outcome = 'over_cap'"
    ).fetchone()[0]
    assert conf["remediation_key"] == "invalidate_hard_bounce_leads"
    assert (conf["rows_counted"], conf["max_rows"], conf["alert_key"]) == (counted, 1, "high_bounce_rate")
    assert conf["sample"]["lead_ids"]  # the first leads it would change
    outcomes = [
        r[0]
        for r in db.execute(
            "SELECT outcome FROM nurture_ops.remediation_audit "
            "WHERE remediation_key = 'invalidate_hard_bounce_leads' ORDER BY id"
        )
    ]
    assert outcomes == ["over_cap", "approval_requested"]
    assert (
        db.execute("SELECT COUNT(*) FROM leads WHERE metadata ->> 'email_invalid' = 'true'").fetchone()[0]
        == 2
    )
    bounce = [p for p in slack_sink.payloads() if p["text"].startswith("[WARNING] High Bounce Rate")]
    assert len(bounce) == 1, [p["text"] for p in slack_sink.payloads()]
    body = json.dumps(bounce[0]["blocks"])
    assert f"Approval requested ({expected_run})" in body
    assert f"/dags/{approval.APPROVAL_DAG_ID}/runs/{expected_run}/tasks/approve/required_actions" in body
