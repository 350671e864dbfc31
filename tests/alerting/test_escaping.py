"""Issue 9.8: what comes from data reaches Slack escaped, exactly once, in every message.

An organization named `<!channel> <https://evil.example|login>` must not ping the channel nor
plant a link: every data-derived string in a mrkdwn text (section, context, and the top-level
notification `text`) has its `&`, `<` and `>` escaped once, while the package's own
`<url|Open this run in Airflow>` links keep working and header blocks (plain_text) stay raw.

Pure cases build each message from hostile values; the end-to-end cases seed hostile names and
read what the real Slack sink received.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from nurture_ops.alerting import notify
from nurture_ops.annual_archive.report import annual_report
from nurture_ops.core.catalog import (
    CHECKS,
    HIGH_EMAIL_FAILURE_RATE,
    HIGH_UNSUBSCRIBE_RATE,
    KPI_REVIEW,
    LOW_ENGAGEMENT,
    SENDER,
    WORKFLOW_EXECUTION_STOPPED,
)
from nurture_ops.core.evaluate import evaluate
from nurture_ops.core.text import escape
from nurture_ops.core.windows import Window
from nurture_ops.daily_health import report as daily_report
from nurture_ops.monthly_maintenance.report import monthly_report
from nurture_ops.quarterly_audit.report import quarterly_report
from nurture_ops.weekly_review.report import weekly_report
from tests.builders import Seed, at

HOSTILE = "<!channel> <https://evil.example|login> Fish & Chips <@U123>"
ESCAPED = "&lt;!channel&gt; &lt;https://evil.example|login&gt; Fish &amp; Chips &lt;@U123&gt;"
RUN_URL = "http://127.0.0.1:8080/dags/d/runs/manual__2026-06-01T12:00:00+00:00/tasks/t?try_number=1"
OWN_LINK = f"<{RUN_URL}|Open this run in Airflow>"
# The package's own links: the only `<...>` a message may hold.
OWN_LINKS = re.compile(r"<https?://[^<>|\s]+\|Open (?:this run|the task log) in Airflow>")
BARE_AMPERSAND = re.compile(r"&(?!amp;|lt;|gt;)")
DOUBLE_ESCAPED = re.compile(r"&amp;(?:amp|lt|gt);")
ISO = "2026-11-01T03:00:00+00:00"


def mrkdwn_texts(message: dict) -> list[str]:
    """Every string Slack parses as mrkdwn: the notification text, sections, context elements."""
    texts = [message["text"]]
    for block in message.get("blocks", []):
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            texts.extend(e["text"] for e in block["elements"] if e["type"] == "mrkdwn")
    return texts


def headers(message: dict) -> list[str]:
    return [b["text"]["text"] for b in message.get("blocks", []) if b["type"] == "header"]


def assert_escaped(message: dict, *, expect: str = ESCAPED, in_text: bool = False) -> None:
    """No `<`, `>` outside the package's own links, every `&` an entity, none escaped twice;
    the hostile value shown escaped (also in the notification text when `in_text`)."""
    for text in mrkdwn_texts(message):
        rest = OWN_LINKS.sub("", text)
        for marker in ("<!", "<http", "<@"):
            assert marker not in rest, f"{marker!r} from data reaches Slack: {text!r}"
        assert "<" not in rest and ">" not in rest, f"unescaped < or >: {text!r}"
        assert not BARE_AMPERSAND.search(rest), f"unescaped & (or a cut entity): {text!r}"
        assert not DOUBLE_ESCAPED.search(rest), f"escaped twice: {text!r}"
    for text in headers(message):  # plain_text: Slack would show an entity as is
        assert not re.search(r"&(?:amp|lt|gt);", text), text
    assert expect in "\n".join(mrkdwn_texts(message)[1:])
    if in_text:
        assert expect in message["text"]


def own_link_intact(message: dict, label: str = "Open this run in Airflow") -> None:
    assert message["blocks"][-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"<{RUN_URL}|{label}>"}],
    }


# --- (a) pure: each builder given hostile values ------------------------------------------------


def test_escape_is_the_three_mrkdwn_characters():
    assert escape(HOSTILE) == ESCAPED


def test_catalog_templates_hold_no_control_character():
    """notify escapes a rendered summary whole: that is escaping its values only while the
    templates (and the detail line templates) hold no &, < or >."""
    for check in CHECKS.values():
        for template in (check.summary, *(d.line for d in check.details)):
            assert not set("&<>") & set(template), (check.key, template)


def test_failure_rate_alert_escapes_detail_values_not_the_template():
    details = {
        "organizations": [
            {"organization_name": HOSTILE, "failed": 12, "total": 40},
            {"organization_name": "A & B", "failed": 1},  # no {total}: the key: value fallback
        ],
        "failure_reasons": [{"failure_reason": HOSTILE, "failed": 12}],
    }
    finding = evaluate(
        HIGH_EMAIL_FAILURE_RATE, {"total": 40, "failed": 12, "failure_rate": 30.0, "details": details}
    )
    message = notify.alert_message(HIGH_EMAIL_FAILURE_RATE, finding, kind="fire", run_url=RUN_URL)
    assert_escaped(message)
    body = "\n".join(mrkdwn_texts(message))
    assert f"• {ESCAPED}: 12 of 40" in body  # the catalog's line template, values escaped
    assert f"• {ESCAPED}: 12" in body
    assert "• organization_name: A &amp; B, failed: 1" in body
    assert "Runbook: 2. Monitoring &amp; Alerts › Critical Alerts › High Email Failure Rate" in body
    own_link_intact(message)


def test_fire_escapes_summary_scope_held_back_and_remediation():
    finding = evaluate(
        WORKFLOW_EXECUTION_STOPPED,
        {
            "stopped_workflows": 1,
            "stopped_names": HOSTILE,
            "details": [{"workflow_name": HOSTILE, "last_run_text": "never"}],
        },
        scope=HOSTILE,
    )
    # The finding itself stays plain text: alert_state.last_summary holds it and inhibition
    # matches a cause in it with STRPOS (escaping "&" there would break a cause naming one).
    assert HOSTILE in finding.summary
    message = notify.alert_message(
        WORKFLOW_EXECUTION_STOPPED,
        finding,
        kind="fire",
        run_url=RUN_URL,
        first_fired_at="2026-06-01T12:00:00+00:00",
        held_back=[{"alert_key": "emails_stuck_queued", "last_summary": f"{HOSTILE} {SENDER}"}],
        remediation={
            "title": "Pause the sender",
            "outcome": "failed",
            "mode": "apply",
            "message": HOSTILE,
            "recheck": HOSTILE,
        },
    )
    assert_escaped(message, in_text=True)
    assert message["text"] == (
        f"[CRITICAL] Workflow Execution Stopped: 1 workflow(s) without an execution in the last 15 "
        f"minutes: {ESCAPED} (threshold 0)"
    )
    body = "\n".join(mrkdwn_texts(message))
    assert f"*1 workflow(s) without an execution in the last 15 minutes: {ESCAPED}*" in body
    assert f"Scope: {ESCAPED}" in body
    assert f"• emails_stuck_queued: {ESCAPED} {SENDER}" in body
    assert f"Re-check after the fix: {ESCAPED}" in body
    assert headers(message) == [":rotating_light: CRITICAL · Workflow Execution Stopped"]
    own_link_intact(message)


@pytest.mark.parametrize("kind", ["remind", "resolve"])
def test_remind_and_resolve_escape_the_summary(kind):
    finding = evaluate(
        LOW_ENGAGEMENT,
        {
            "campaigns_below": 1 if kind == "remind" else 0,
            "campaigns_measured": 3,
            "details": [
                {"campaign_name": HOSTILE, "organization_name": HOSTILE, "open_rate": 5, "click_rate": 1}
            ],
        },
        scope=HOSTILE,
    )
    message = notify.alert_message(LOW_ENGAGEMENT, finding, kind=kind, run_url=RUN_URL)
    assert_escaped(message, expect=f"Scope: {ESCAPED}")
    if kind == "remind":
        assert f"• {ESCAPED} ({ESCAPED}): open 5%, click 1%" in "\n".join(mrkdwn_texts(message))
    own_link_intact(message)


def test_a_long_hostile_value_is_cut_between_entities():
    finding = evaluate(
        HIGH_UNSUBSCRIBE_RATE,
        {
            "unsubscribe_rate": 2.0,
            "emails_sent": 100,
            "unsubscribes": 2,
            "details": [{"campaign_name": "&<>" * 2000, "organization_name": "x", "unsubscribes": 2}],
        },
    )
    message = notify.alert_message(HIGH_UNSUBSCRIBE_RATE, finding, kind="fire", run_url=RUN_URL)
    assert_escaped(message, expect="&amp;&lt;&gt;&amp;")
    for block in message["blocks"]:
        assert len(block.get("text", {}).get("text", "")) <= 3000


def test_task_failure_message_escapes_the_error_inside_and_outside_the_code_block():
    class TI:
        dag_id, task_id, log_url = "nurture_alerts_5min", "measure", RUN_URL

    error = RuntimeError(f"{HOSTILE} " + "<!here> & " * 400)
    message = notify.failure_message({"ti": TI(), "exception": error, "run_id": f"manual__{HOSTILE}"})
    assert_escaped(message, in_text=True)
    section = message["blocks"][1]["text"]["text"]
    assert f"(run manual__{ESCAPED})" in section
    assert f"```RuntimeError: {ESCAPED} &lt;!here&gt; &amp; " in section and section.endswith("…```")
    assert message["text"].startswith(
        f"[CRITICAL] Task failed: nurture_alerts_5min.measure: RuntimeError: {ESCAPED}"
    )
    assert len(message["text"]) <= 400
    assert headers(message) == [":rotating_light: CRITICAL · Task failed: measure"]
    own_link_intact(message, "Open the task log in Airflow")


def test_info_message_escapes_the_summary_not_the_sections_again():
    message = notify.info_message(
        "Backup & restore", ["*Part*\nalready escaped: Fish &amp; Chips"], run_url=RUN_URL, summary=HOSTILE
    )
    assert_escaped(message, expect="Fish &amp; Chips", in_text=True)
    assert message["text"] == f"[INFO] Backup &amp; restore: {ESCAPED}"
    assert headers(message) == [":memo: Backup & restore"]
    own_link_intact(message)


# --- (a) report level: every report's data fields ---------------------------------------------


def test_daily_digest_escapes_workflow_names_and_the_kpi_table():
    digest = {
        "day": "2026-11-28",
        "kpis": {"open_rate": 25.0, "unsubscribe_rate": 0.7},
        "volume": {"emails_sent": 1000, "failed": 5, "failure_rate": 0.5, "avg_delay_seconds": 22},
        "enrollments": {"active_enrollments": 10, "overdue": 0, "due_soon": 2},
        "workflow_errors": {"error_count": 3, "details": [{"workflow_name": HOSTILE, "error_count": 3}]},
        "engagement": {"campaigns_below": 0, "campaigns_measured": 3},
    }
    message = daily_report.message(digest, KPI_REVIEW.thresholds, run_url=RUN_URL)
    assert_escaped(message)
    assert f"    • {ESCAPED}: 3" in message["blocks"][1]["text"]["text"]
    table = message["blocks"][2]["text"]["text"]
    assert "Open Rate                  25.0%  &gt; 30%   &lt; 20%    ⚠️ below target" in table
    own_link_intact(message)


def weekly_parts() -> dict:
    return {
        "query_performance": {
            "available": True,
            "slow_ms": 500,
            "queries": [{"query": HOSTILE, "calls": 4, "mean_ms": 812.5, "max_ms": 1500.0, "slow": True}],
            "slow_count": 1,
            "spiky_count": 0,
            "scaling": {"section": "Scale Database (Supabase)", "actions": [HOSTILE]},
        },
        "scheduler_performance": None,
        "sender_performance": None,
        "unsubscribe_feedback": {
            "unsubscribes": 1,
            "group_unsubscribes": 0,
            "campaigns": [
                {
                    "campaign_name": HOSTILE,
                    "unsubscribes": 1,
                    "group_unsubscribes": 0,
                    "leads": 1,
                    "emails_sent": 10,
                    "unsubscribe_rate": 10.0,
                    "reasons": [{"reason": HOSTILE, "count": 1}],
                    "more_reasons": 0,
                }
            ],
        },
        "export_workflow_definitions": {
            "location": f"file:///b/{HOSTILE}",
            "workflows": 2,
            "active": 1,
            "previous": HOSTILE,
            "first_export": False,
            "changed_count": 1,
            "changed": [HOSTILE],
        },
    }


def test_weekly_review_escapes_campaigns_reasons_queries_and_workflow_names():
    week = Window(datetime(2026, 11, 2, 7, tzinfo=UTC), datetime(2026, 11, 9, 7, tzinfo=UTC))
    sections, summary = weekly_report(weekly_parts(), week=week, database={"ok": False, "error_class": "<x>"})
    message = notify.info_message("Weekly review", sections, run_url=RUN_URL, summary=summary)
    assert_escaped(message)
    body = "\n".join(sections)
    assert f"• *{ESCAPED}*: 1 unsubscribe" in body and f"reasons: {ESCAPED} (1)" in body
    assert f"Changed: {ESCAPED}" in body and f"Since {ESCAPED}:" in body
    assert "(&lt;x&gt;)" in body  # the held-back reason names the database error class


def test_weekly_review_export_error_is_escaped():
    week = Window(datetime(2026, 11, 2, 7, tzinfo=UTC), datetime(2026, 11, 9, 7, tzinfo=UTC))
    parts = {**weekly_parts(), "export_workflow_definitions": None}
    sections, summary = weekly_report(parts, week=week, export_error=HOSTILE)
    assert_escaped(notify.info_message("Weekly review", sections, run_url=RUN_URL, summary=summary))


def test_quarterly_audit_escapes_schema_names_in_sections_and_summary():
    schema = {
        "ready": False,
        "schema_files": [f"{HOSTILE}.sql"],
        "tables": {"expected": 10, "missing": [HOSTILE]},
        "columns": {"expected": 90, "missing": [], "not_null_missing": []},
        "constraints": {"expected": 26, "missing": [], "not_validated": []},
        "indexes": {"expected": 17, "missing": [HOSTILE], "invalid": []},
    }
    recovery = {
        "location": HOSTILE,
        "max_age_days": 8,
        "last_export": HOSTILE,
        "age_days": 9,
        "recent": False,
    }
    quarter = Window(datetime(2026, 7, 1, 8, tzinfo=UTC), datetime(2026, 10, 1, 8, tzinfo=UTC))
    sections, summary = quarterly_report(
        {"capacity_review": None, "schema_readiness": schema, "recovery_readiness": recovery}, quarter=quarter
    )
    message = notify.info_message("Quarterly audit", sections, run_url=RUN_URL, summary=summary)
    assert_escaped(message, in_text=True)
    assert f"missing table ({ESCAPED})" in message["text"]
    assert f"from {ESCAPED}.sql" in "\n".join(sections)
    assert f"Last workflow export {ESCAPED} is 9 days old" in "\n".join(sections)
    own_link_intact(message)


def test_monthly_maintenance_escapes_tables_indexes_workflows_and_errors():
    parts = {
        "reindex_tables": [{"table": HOSTILE, "status": "failed", "attempts": 2, "error": HOSTILE}],
        "analyze_tables": [{"table": HOSTILE, "status": "failed", "error": HOSTILE}],
        "invalid_indexes": {
            "indexes": [
                {
                    "index": HOSTILE,
                    "table": HOSTILE,
                    "size_bytes": 8192,
                    "status": "kept",
                    "build_in_progress": False,
                    "leftover": True,
                    "error": None,
                }
            ],
            "remaining": [HOSTILE],
            "drop_enabled": False,
        },
        "cleanup_completed_enrollments": None,
        "review_slow_workflows": {
            "month_start": ISO,
            "month_end": ISO,
            "error_count": 3,
            "previous_error_count": 1,
            "trend": "up",
            "workflows": [
                {
                    "workflow_name": HOSTILE,
                    "trend": "up",
                    "error_count": 3,
                    "previous_error_count": 1,
                    "executions": 5,
                    "failed_executions": 1,
                    "mean_duration_ms": 10.0,
                    "max_duration_ms": 20.0,
                }
            ],
            "workflow_count": 1,
            "rising": [HOSTILE],
        },
        "lift_silences": {"alert_keys": [HOSTILE], "starts_at": ISO, "lifted_at": ISO},
    }
    sections, summary = monthly_report(parts, at=datetime(2026, 11, 1, 3, tzinfo=UTC))
    message = notify.info_message("Monthly maintenance", sections, run_url=RUN_URL, summary=summary)
    assert_escaped(message, in_text=True)
    assert f"reindex FAILED for {ESCAPED}" in message["text"]
    assert f"workflow errors rising: {ESCAPED}" in message["text"]
    assert f"`{ESCAPED}` on `{ESCAPED}` (8.0 kB): kept" in "\n".join(sections)
    own_link_intact(message)


def test_annual_archive_escapes_the_run_id():
    counts = {"moved": 1, "live_before": 2, "live_after": 1, "archived_before": 0, "archived_after": 1}
    result = {
        "cutoff": "2025-11-01T00:00:00+00:00",
        "batch_size": 1000,
        "run_id": f"manual__{HOSTILE}",
        "dry_run": False,
        "batches": 1,
        "seconds": 1.5,
        "reconciled": True,
        "sends": counts,
        "events": counts,
    }
    sections, summary = annual_report(result)
    message = notify.info_message("Annual archive", sections, run_url=RUN_URL, summary=summary)
    assert_escaped(message)
    assert "*Archive old data (&gt; 1 year)*" in sections[0]


# --- (b) end to end: hostile names seeded, messages read from the real Slack sink -------------


@pytest.mark.e2e
def test_hostile_organization_reaches_the_5min_failure_alert_escaped(run_dag, db, slack_sink):
    from tests.alerting.test_alerts_5min_dag import add_window

    seed = Seed(db)
    org = seed.org(HOSTILE)
    campaign = seed.campaign(org, HOSTILE)
    lead = seed.lead(org)
    t0 = at("2026-06-01", 12, 0)
    add_window(seed, campaign, lead, t0, sent=28, failed=12, reason=HOSTILE)

    states = run_dag("nurture_alerts_5min", t0)
    assert states["high_email_failure_rate.notify"] == "success"
    (message,) = slack_sink.payloads()
    assert message["text"].startswith("[CRITICAL] High Email Failure Rate: 30.0% of 40 emails failed")
    assert_escaped(message)
    body = "\n".join(mrkdwn_texts(message))
    assert f"• {ESCAPED}: 12 of 40" in body  # top organizations
    assert f"• {ESCAPED}: 12" in body  # top failure reasons (SendGrid's text)
    assert OWN_LINKS.fullmatch(message["blocks"][-1]["elements"][0]["text"])  # the run's own link


@pytest.mark.e2e
def test_hostile_names_reach_the_daily_digest_and_warnings_escaped(run_dag, leads_db, db, slack_sink):
    from dev import seed as demo_seed

    now = datetime(2026, 11, 29, 14, 37, tzinfo=UTC)  # the demo seed's "now"; yesterday 2026-11-28
    with psycopg.connect(leads_db) as conn:
        demo_seed.seed(conn, seed=42, now=now)
    db.execute("UPDATE organizations SET name = %s || ' #' || id", (HOSTILE,))
    db.execute("UPDATE nurture_campaigns SET campaign_name = %s || ' #' || id", (HOSTILE,))
    Seed(db).workflow_error(HOSTILE, at=now - timedelta(days=1), message=HOSTILE)

    run_dag("nurture_analytics_rollup", datetime(2026, 11, 29, 1, 0, tzinfo=UTC))
    states = run_dag("nurture_daily_health", now)
    assert states["__run__"] == "success", states
    messages = slack_sink.payloads()
    assert not [m["text"] for m in messages if "Task failed" in m["text"]]

    (digest,) = [m for m in messages if m["text"].startswith("[INFO] Daily health digest")]
    assert_escaped(digest, expect=f"• {ESCAPED}: 1")  # the workflow errors list

    by_title = {m["text"].split(":")[0]: m for m in messages}
    for title in ("[WARNING] Low Engagement Rate", "[WARNING] High Unsubscribe Rate"):
        assert_escaped(by_title[title], expect=f"• {ESCAPED} #")  # campaign (organization) lines
        assert f"({ESCAPED} #" in "\n".join(mrkdwn_texts(by_title[title]))
    for message in messages:  # every warning of the day, whatever it lists
        for text in mrkdwn_texts(message):
            rest = OWN_LINKS.sub("", text)
            assert "<" not in rest and ">" not in rest and not BARE_AMPERSAND.search(rest), text
