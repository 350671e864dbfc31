"""nurture_analytics_rollup and nurture_daily_health end to end (dag.test(), real PostgreSQL, sink)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from dev import seed as demo_seed
from nurture_ops.core import analytics
from nurture_ops.core.catalog import KPI_LABELS

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 29, 14, 37, tzinfo=UTC)  # the seed's "now"; yesterday = 2026-11-28
YESTERDAY = date(2026, 11, 28)


@pytest.fixture
def seeded(leads_db):
    with psycopg.connect(leads_db) as conn:
        manifest = demo_seed.seed(conn, seed=42, now=NOW)
    return manifest


def analytics_rows(db, day=None):
    query = (
        "SELECT * FROM campaign_analytics"
        + (" WHERE analytics_date = %s" if day else "")
        + " ORDER BY campaign_id, analytics_date"
    )
    with db.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(query, (day,) if day else ())
        return cur.fetchall()


def texts(sink):
    return [p["text"] for p in sink.payloads()]


# --- nurture_analytics_rollup ---------------------------------------------------------------


def test_scheduled_run_rolls_up_the_previous_day_identically_twice(run_dag, seeded, db):
    states = run_dag("nurture_analytics_rollup", datetime(2026, 11, 29, 1, 0, tzinfo=UTC))
    assert states["__run__"] == "success"
    first = analytics_rows(db, YESTERDAY)
    assert first, "the seeded yesterday has sends: one row per campaign"
    expected = {}
    with db.cursor() as cur:
        cur.execute(
            """SELECT campaign_id, COUNT(*) FROM email_sends
               WHERE actual_send_time >= %s AND actual_send_time < %s GROUP BY campaign_id""",
            (datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC)),
        )
        expected = dict(cur.fetchall())
    assert {r["campaign_id"]: r["emails_sent_today"] for r in first} == expected
    run_dag("nurture_analytics_rollup", datetime(2026, 11, 29, 1, 0, tzinfo=UTC))
    assert analytics_rows(db, YESTERDAY) == first


def test_manual_backfill_recomputes_every_day_of_the_range(run_dag, seeded, db):
    db.execute("DELETE FROM campaign_analytics")
    states = run_dag(
        "nurture_analytics_rollup", NOW, run_conf={"start_date": "2026-11-22", "end_date": "2026-11-28"}
    )
    assert states["__run__"] == "success"
    days = {r["analytics_date"] for r in analytics_rows(db)}
    assert days == {date(2026, 11, 22) + timedelta(days=i) for i in range(7)}


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"start_date": "2026-11-28", "end_date": "2026-11-22"}, "is after end_date"),
        ({"start_date": "2026-11-20", "end_date": "2026-12-05"}, "is after 2026-11-28"),
        ({"start_date": "2025-01-01", "end_date": "2026-11-28"}, "more than the 400 allowed"),
        ({"start_date": "2026-11-20", "end_date": None}, "end_date is empty"),
    ],
)
def test_bad_backfill_params_are_rejected_before_any_write(run_dag, seeded, db, slack_sink, conf, message):
    before = analytics_rows(db)
    states = run_dag("nurture_analytics_rollup", NOW, run_conf=conf)
    assert states["plan_days"] == "failed"
    assert states["rollup_campaign_analytics"] == "upstream_failed"
    assert analytics_rows(db) == before
    (failure,) = texts(slack_sink)
    assert failure.startswith("[CRITICAL] Task failed: nurture_analytics_rollup.plan_days")
    assert message in failure


def test_malformed_date_param_is_rejected_by_the_trigger_form_or_the_task(run_dag, seeded, db):
    from airflow.sdk.definitions.param import ParamValidationError

    before = analytics_rows(db)
    try:
        states = run_dag(
            "nurture_analytics_rollup", NOW, run_conf={"start_date": "28/11/2026", "end_date": "2026-11-28"}
        )
    except ParamValidationError:
        states = {"plan_days": "failed"}
    assert states["plan_days"] == "failed"
    assert analytics_rows(db) == before


def test_backfill_range_matches_the_python_recomputation_module(seeded, db):
    """The DAG's unit of work is analytics.backfill; its progress lines say days done / total."""
    lines = []
    with psycopg.connect(db.info.dsn, autocommit=True) as conn:
        totals = analytics.backfill(conn, [date(2026, 11, 27), date(2026, 11, 28)], NOW, log=lines.append)
    assert totals["days"] == 2
    assert lines[0].startswith("day 1/2: 2026-11-27,")
    assert lines[1].startswith("day 2/2: 2026-11-28,")


# --- nurture_daily_health -------------------------------------------------------------------


def test_daily_health_on_the_seeded_anomalies(run_dag, seeded, db, slack_sink):
    # As in production: the 01:00 rollup writes yesterday, the 07:00 health check reads it.
    run_dag("nurture_analytics_rollup", datetime(2026, 11, 29, 1, 0, tzinfo=UTC))
    states = run_dag("nurture_daily_health", NOW)
    assert states["__run__"] == "success", states
    sent = texts(slack_sink)

    (digest,) = [t for t in sent if t.startswith("[INFO] Daily health digest")]
    assert digest.startswith("[INFO] Daily health digest · 2026-11-28: ")
    digest_blocks = json.dumps(next(p for p in slack_sink.payloads() if p["text"] == digest)["blocks"])
    for label in KPI_LABELS.values():  # all seven KPIs, each with a status
        assert label in digest_blocks
    assert "Morning health check" in digest_blocks

    assert not [t for t in sent if "Task failed" in t], sent
    titles = {t.split(":")[0] for t in sent}
    assert "[WARNING] Low Engagement Rate" in titles
    assert "[WARNING] High Unsubscribe Rate" in titles
    assert "[WARNING] Duplicate Email Events" in titles
    assert "[WARNING] High Bounce Rate" in titles
    assert "[WARNING] Personalization Data Missing" in titles
    assert "[WARNING] Campaign Analytics Not Updating" in titles

    # Bounce remediation applied by default: hard bounces only, audited, re-checked.
    audit = db.execute(
        "SELECT remediation_key, mode, outcome, rows_changed FROM nurture_ops.remediation_audit ORDER BY id"
    ).fetchall()
    by_key = {row[0]: row for row in audit}
    assert by_key["invalidate_hard_bounce_leads"][1:3] == ("apply", "applied")
    assert by_key["recompute_missing_analytics"][1:3] == ("apply", "applied")
    soft_only_invalid = db.execute(
        """SELECT COUNT(*) FROM leads l WHERE l.metadata->>'email_invalid' = 'true'
           AND NOT EXISTS (SELECT 1 FROM email_sends es WHERE es.lead_id = l.id AND es.bounce_type = 'hard')"""
    ).fetchone()[0]
    assert soft_only_invalid == 0
    left = db.execute(
        """SELECT COUNT(*) FROM lead_campaign_enrollments lce JOIN leads l ON l.id = lce.lead_id
           WHERE l.metadata->>'email_invalid' = 'true' AND lce.status = 'active'"""
    ).fetchone()[0]
    assert left == 0
    bounce_message = next(
        p for p in slack_sink.payloads() if p["text"].startswith("[WARNING] High Bounce Rate")
    )
    assert "Re-check after the fix" in json.dumps(bounce_message["blocks"])

    # The analytics gap (day-4) is filled, and the message says which days.
    assert analytics_rows(db, date(2026, 11, 25))
    analytics_message = next(
        p for p in slack_sink.payloads() if "Campaign Analytics Not Updating" in p["text"]
    )
    assert "2026-11-25" in json.dumps(analytics_message["blocks"])

    # Same day again: no second digest, no repeated warnings; what the fixes cleared resolves.
    count = len(sent)
    run_dag("nurture_daily_health", NOW + timedelta(minutes=30))
    assert texts(slack_sink)[count:] == [
        "[RESOLVED] Campaign Analytics Not Updating: 0 day(s) of the last 14 lack campaign analytics; "
        "latest analytics date 2026-11-28 (threshold 0)"
    ]


def test_bounce_remediation_respects_the_cap(run_dag, seeded, db, slack_sink, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_VAR_NURTURE_OPS_REMEDIATION", json.dumps({"invalidate_hard_bounce_leads": {"max_rows": 5}})
    )
    invalid_before = db.execute(
        "SELECT COUNT(*) FROM leads WHERE metadata->>'email_invalid' = 'true'"
    ).fetchone()
    run_dag("nurture_daily_health", NOW)
    assert (
        db.execute("SELECT COUNT(*) FROM leads WHERE metadata->>'email_invalid' = 'true'").fetchone()
        == invalid_before
    )
    outcome = db.execute(
        "SELECT outcome, rows_changed FROM nurture_ops.remediation_audit WHERE remediation_key = 'invalidate_hard_bounce_leads'"
    ).fetchone()
    assert outcome == ("over_cap", 0)
    message = next(p for p in slack_sink.payloads() if p["text"].startswith("[WARNING] High Bounce Rate"))
    assert "over the cap of 5 per run: nothing was changed" in json.dumps(message["blocks"])
