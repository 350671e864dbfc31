"""nurture_annual_archive end to end (dag.test(), real PostgreSQL, the Slack sink): old sends and
their events archived, recent ones untouched, dry run, bad cutoffs rejected before any write."""

from __future__ import annotations

import json

import pytest

from nurture_ops.annual_archive.report import annual_report
from tests.builders import NOW, archive_run_ids, rows

pytestmark = pytest.mark.e2e

DAG_ID = "nurture_annual_archive"
# The seed's clock (2026-06-15 12:00 UTC): old sends are 400+ days before it, recent ones 10 days.
RUN = NOW


def reports(sink) -> list[dict]:
    return [p for p in sink.payloads() if p["text"].startswith("[INFO] Annual archive")]


def failures(sink) -> list[str]:
    return [p["text"] for p in sink.payloads() if "Task failed" in p["text"]]


def body(payload: dict) -> str:
    return "\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")


def snapshot(db) -> dict:
    return {table: rows(db, table) for table in ("email_sends", "email_events")}


def test_old_sends_and_their_events_are_archived(run_dag, db, seeded_sends, slack_sink):
    s = seeded_sends
    before = snapshot(db)
    states = run_dag(DAG_ID, RUN, run_conf={"cutoff_date": "2025-06-01", "batch_size": 100})
    assert states["__run__"] == "success", states

    sends, events = rows(db, "email_sends_archive"), rows(db, "email_events_archive")
    assert sorted(sends) == sorted(s.old_send_ids)  # 23 sends created 2025-05-11 .. 2025-05-12
    assert all(sends[i] == before["email_sends"][i] for i in sends)
    assert len(events) == s.old_event_count == 33
    assert {e["email_send_id"] for e in events.values()} <= set(s.old_send_ids)
    assert all(events[i] == before["email_events"][i] for i in events)  # recent events of old sends too
    # Recent sends and their events untouched; nothing dangles.
    assert sorted(rows(db, "email_sends")) == sorted(s.recent_send_ids)
    live_events = rows(db, "email_events")
    assert len(live_events) == s.recent_event_count == 14
    assert {e["email_send_id"] for e in live_events.values()} <= set(s.recent_send_ids)
    (run_id,) = archive_run_ids(db, "email_sends_archive")
    assert archive_run_ids(db, "email_events_archive") == {run_id: 33}

    (report,) = reports(slack_sink)
    assert (
        report["text"]
        == "[INFO] Annual archive: 23 sends and 33 events created before 2025-06-01 archived, reconciled"
    )
    text = body(report)
    assert "Sends created before 2025-06-01 00:00 UTC and all their events" in text
    assert "batches of 100" in text and f"(run {run_id})" in text
    assert "Moved 23 sends and 33 events in 1 batch" in text
    assert "email_sends (created before the cutoff): live 23 → 0, archived 0 → 23" in text
    assert "email_events (of those sends): live 33 → 0, archived 0 → 33" in text
    assert "Reconciled: live before = live after + moved" in text
    assert "Comprehensive security audit" in text
    assert failures(slack_sink) == []

    # Run again (the default cutoff, one year before the run): nothing left to move.
    slack_sink.clear()
    assert run_dag(DAG_ID, RUN)["__run__"] == "success"
    assert len(rows(db, "email_sends_archive")) == 23
    (again,) = reports(slack_sink)
    assert (
        again["text"]
        == "[INFO] Annual archive: 0 sends and 0 events created before 2025-06-15 archived, reconciled"
    )


def test_dry_run_shows_what_would_move_and_changes_nothing(run_dag, db, seeded_sends, slack_sink):
    before = snapshot(db)
    states = run_dag(DAG_ID, RUN, run_conf={"dry_run": True})
    assert states["__run__"] == "success", states
    assert snapshot(db) == before
    assert db.execute("SELECT TO_REGCLASS('email_sends_archive')").fetchone()[0] is None

    (report,) = reports(slack_sink)
    assert report["text"] == (
        "[INFO] Annual archive · DRY RUN: would archive 23 sends and 33 events created before 2025-06-15; "
        "nothing changed"
    )
    assert "DRY RUN: nothing changed. Would move 23 sends and 33 events in about 1 batch." in body(report)


@pytest.mark.parametrize(
    ("cutoff", "message"),
    [
        ("2026-06-16", "cutoff_date 2026-06-16 is after the run date 2026-06-15"),
        ("2026-01-01", "cutoff_date 2026-01-01 is only 165 days before the run date 2026-06-15"),
        ("2026-02-30", "is not a valid calendar date"),
    ],
)
def test_bad_cutoff_is_rejected_before_any_write(run_dag, db, seeded_sends, slack_sink, cutoff, message):
    from airflow.sdk.definitions.param import ParamValidationError

    before = snapshot(db)
    try:
        states = run_dag(DAG_ID, RUN, run_conf={"cutoff_date": cutoff})
    except ParamValidationError as exc:  # the trigger form's date format check got there first
        assert cutoff in str(exc)
    else:
        assert states["plan_archive"] == "failed"
        assert states["archive"] == states["archive_report"] == "upstream_failed"
        (failure,) = failures(slack_sink)
        assert failure.startswith(f"[CRITICAL] Task failed: {DAG_ID}.plan_archive: cutoff_date ")
        assert failure.endswith("(bad input: not retried; nothing was changed)")
        assert message in failure
    assert snapshot(db) == before
    assert db.execute("SELECT TO_REGCLASS('email_sends_archive')").fetchone()[0] is None
    assert reports(slack_sink) == []


def test_annual_report_of_a_partial_run():
    """Sends locked by the sender are left live and the report says to rerun; late events too."""
    counts = {"live_before": 10, "archived_before": 0, "moved": 8}
    result = {
        "cutoff": "2025-01-02T00:00:00+00:00",
        "run_id": "scheduled__2026-01-02T04:00:00+00:00",
        "dry_run": False,
        "batch_size": 5000,
        "batches": 1,
        "seconds": 0.4,
        "sends": {**counts, "live_after": 2, "archived_after": 8},
        "events": {**counts, "moved": 9, "live_after": 2, "archived_after": 9, "arrived_during_run": 1},
        "left_locked": 2,
        "reconciled": True,
    }
    sections, summary = annual_report(result)
    assert (
        summary
        == "8 sends and 9 events created before 2025-01-02 archived, reconciled; 2 left live (locked), rerun"
    )
    assert "1 events arrived on old sends during the run and were moved with them" in sections[0]
    assert "2 old sends were locked by other sessions and left live" in sections[0]
    json.dumps(sections)
