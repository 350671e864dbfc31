"""nurture_quarterly_audit end to end: real PostgreSQL, a backup folder, the Slack sink."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import utc

pytestmark = pytest.mark.e2e

DAG_ID = "nurture_quarterly_audit"
RUN = utc("2026-10-01 08:00")  # the quarter: [2026-07-01 08:00, 2026-10-01 08:00)


def blocks_text(payload: dict) -> str:
    return "\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")


@pytest.fixture
def backups(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "workflow-backups"
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_WORKFLOW_BACKUP_URL", root.as_uri())
    return root


def export_folder(root: Path, label: str, *, complete: bool = True) -> None:
    (root / label).mkdir(parents=True)
    (root / label / "workflow-w1.json").write_text("{}")
    if complete:
        (root / label / "manifest.json").write_text('{"workflows": []}')


def seed_capacity(rows, *, organizations_before: int, organizations_during: int) -> None:
    """Organizations before the quarter and created in it; 4 -> 10 active enrollments."""
    for _ in range(organizations_before):
        org = rows.org(created_at=utc("2026-06-01 00:00"))
    for _ in range(organizations_during):
        rows.org(created_at=utc("2026-08-15 00:00"))
    campaign = rows.campaign(org)
    for _ in range(4):
        rows.enrollment(org, campaign, created_at=utc("2026-06-15 00:00"))
    for _ in range(6):
        rows.enrollment(org, campaign, created_at=utc("2026-08-20 00:00"))


def test_a_healthy_quarter_needs_no_attention(run_dag, rows, backups, slack_sink):
    seed_capacity(rows, organizations_before=2, organizations_during=1)
    export_folder(backups, "2026-09-21")
    export_folder(backups, "2026-09-28")  # the last complete export: 3 days before the run
    export_folder(backups, "2026-09-30", complete=False)  # no manifest: an interrupted export
    export_folder(backups, "2026-10-05")  # after the run: not what this run judges

    states = run_dag(DAG_ID, RUN)

    assert states["__run__"] == "success"
    assert all(states[t] == "success" for t in ("capacity_review", "schema_readiness", "recovery_readiness"))
    [report] = slack_sink.payloads()
    assert report["text"] == (
        "[INFO] Quarterly audit: schema complete; capacity ok (highest: organizations at 3.00%); "
        "last workflow export 3 days old"
    )
    text = blocks_text(report)
    assert "*Quarter* 2026-07-01 08:00 UTC → 2026-10-01 08:00 UTC" in text
    # Organizations 2 -> 3 over 85 days (first week ends 07-08 08:00): 97 more at 1/85 a day.
    assert (
        "• *Organizations*: 3 of 100 (3.00%); 2 → 3 over the quarter (+50.0%), +0.012/day; "
        "limit projected 2049-04-28 (in 8,245 days) — *ok*"
    ) in text
    assert (
        "• *Active enrollments*: 10 of 100,000 (0.01%); 4 → 10 over the quarter (+150.0%), +0.071/day; "
        "no limit date (not growing, or beyond 100 years) — *ok*"
    ) in text
    assert "• *Emails per day*: 0.0 of 100,000 (0.00%); busiest day 0 (0.00%)" in text
    assert "No scaling action needed before the next audit." in text
    assert ":white_check_mark: Everything present: 10 tables" in text
    assert ":white_check_mark: Last workflow export 2026-09-28 (3 days before the run, &lt;= 8)" in text


def test_a_dropped_index_a_limit_near_and_no_backup_call_for_attention(
    run_dag, rows, db, backups, slack_sink
):
    seed_capacity(rows, organizations_before=60, organizations_during=25)
    db.execute("DROP INDEX email_sends_created_covering_idx")

    states = run_dag(DAG_ID, RUN)

    assert states["__run__"] == "success"
    [report] = slack_sink.payloads()
    assert report["text"] == (
        "[INFO] Quarterly audit: ATTENTION: 1 missing index (email_sends_created_covering_idx (on email_sends)); "
        "organizations at 85.0% of the limit, limit by 2026-11-21; no workflow export found"
    )
    text = blocks_text(report)
    assert ":rotating_light: *ATTENTION*: 1 missing index" in text
    assert "• *1 missing index*: email_sends_created_covering_idx (on email_sends)" in text
    # 60 -> 85 organizations over 85 days: 15 more at 25/85 a day = 51 days.
    assert (
        "• :warning: *Organizations*: 85 of 100 (85.00%); 60 → 85 over the quarter (+41.7%), +0.294/day; "
        "limit projected 2026-11-21 (in 51 days) — *act now*"
    ) in text
    assert (
        "*Scale Database (Supabase)* (for Organizations; trigger: Query response time &gt; 500ms consistently): "
        "1. Upgrade Supabase plan (more resources) 2. Add read replicas for reporting "
        "3. Implement connection pooling 4. Archive old data (&gt; 1 year)"
    ) in text
    assert f":warning: No workflow export found under `{backups.as_uri()}`" in text


def test_a_stale_backup_and_an_unreachable_database(run_dag, backups, slack_sink, monkeypatch):
    from tests.conftest import leads_db_connection_json

    export_folder(backups, "2026-09-22")  # 9 days before the run
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB", leads_db_connection_json("x", port=1))

    states = run_dag(DAG_ID, RUN)

    assert (states["capacity_review"], states["schema_readiness"]) == ("skipped", "skipped")
    assert states["audit_summary"] == "success"
    [report] = slack_sink.payloads()
    assert report["text"] == (
        "[INFO] Quarterly audit: ATTENTION: last workflow export 9 days old; "
        "not reviewed (database unreachable): capacity_review, schema_readiness"
    )
    assert ":warning: Last workflow export 2026-09-22 is 9 days old (&gt; 8)" in blocks_text(report)
