"""`make demo`: every DAG of the package once, headless, on a fresh seeded database.

1. a fresh lead-nurture database `nurture_demo` seeded with the known anomalies (dev/seed.py),
   anchored at the current time floored to 5 minutes;
2. a Slack sink, a fake N8n (a short execution queue), a fake SendGrid (stats counted from the
   seeded database, one day planted off; a major incident on its status page) and a fake Supabase
   (daily backups) on 127.0.0.1 (free ports), a private Airflow home;
3. `airflow dags test DAG DATE` for each DAG, DATE = the anchor, then a second pass of the alert
   DAGs (which must send nothing new: no duplicates), then the 15-minute alerts once more with
   the N8n queue raised past 100 (the backlog warning);
4. a summary: each DAG's outcome, the Slack messages it caused (with the lines that show what the
   outside said: SendGrid's status, the backup, the deliverability discrepancies), the
   remediations with their audit rows, and the alert state;
5. a noisy organization (issue 12): one organization whose sends all fail while the global rate
   stays under its threshold, over three more runs of the 5-minute DAG: its own alert, grouped
   per check and run, the PagerDuty stand-in's trigger, an escalation to slack_escalation once it
   is unacknowledged past its response time, then the grouped resolve and PagerDuty's resolve.
"""

from __future__ import annotations

import html
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from dev import pg
from dev import seed as demo_seed
from dev.fake_n8n import FakeN8n, demo_workflows
from dev.fake_pagerduty import FakePagerDuty
from dev.fake_sendgrid import PLANTED_DAYS_BEFORE, FakeSendGrid, plant_discrepancy, stats_from_database
from dev.fake_supabase import FakeSupabase
from dev.rows import Builder
from dev.slack_sink import SlackSink

REPO = Path(__file__).resolve().parent.parent
DEMO_DB = "nurture_demo"
DAGS = [
    "nurture_alerts_5min",
    "nurture_alerts_15min",
    "nurture_analytics_rollup",
    "nurture_daily_health",
    "nurture_weekly_review",
    "nurture_monthly_maintenance",
    "nurture_quarterly_audit",
    "nurture_annual_archive",
]
SECOND_PASS = ["nurture_alerts_5min", "nurture_alerts_15min", "nurture_daily_health"]
ESCALATION_PATH = "T000/B000/ESCALATION"  # the sink's path for slack_escalation (a dummy)
NOISY_ORG = "Noisy Demo Org"
THIRD_PASS = ["nurture_alerts_15min"]
QUEUE_BACKLOG = 150  # waiting executions in the third pass: past the runbook's "> 100 items"
INCIDENT = "Elevated API error rates on mail send"
# Lines of a message worth showing under it: what the outside said.
HIGHLIGHTS = ("SendGrid status", "*Database backup*", "discrepanc", "Likely cause", "Spam reports")


def anchor() -> datetime:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now.replace(minute=now.minute - now.minute % 5)


def highlights(payload: dict) -> list[str]:
    """The lines of a message's sections that show what an outside system said."""
    lines = []
    for block in payload.get("blocks") or []:
        text = (block.get("text") or {}).get("text", "") if isinstance(block, dict) else ""
        lines += [line for line in text.splitlines() if any(h in line for h in HIGHLIGHTS)]
    return lines


def airflow_env(
    home: Path,
    sink: SlackSink,
    n8n: FakeN8n,
    sendgrid: FakeSendGrid,
    supabase: FakeSupabase,
    pagerduty: FakePagerDuty | None = None,
) -> dict[str, str]:
    env = dict(os.environ)
    for name in list(env):
        if name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_")):
            del env[name]
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
            "AIRFLOW_CONN_LEADS_DB": json.dumps(
                {
                    "conn_type": "postgres",
                    "host": pg.HOST,
                    "port": pg.PORT,
                    "login": pg.SUPERUSER,
                    "schema": DEMO_DB,
                }
            ),
            "AIRFLOW_CONN_SLACK_ALERTS": sink.connection_json(),
            "AIRFLOW_CONN_N8N_API": n8n.connection_json(),
            "AIRFLOW_CONN_SENDGRID_API": sendgrid.connection_json(),
            "AIRFLOW_CONN_SENDGRID_STATUS": sendgrid.status_connection_json(),
            "AIRFLOW_CONN_SUPABASE_API": supabase.connection_json(),
            # Show the N8n remediation without acting on anything: dry run.
            "AIRFLOW_VAR_NURTURE_OPS_REMEDIATION": json.dumps({"pause_sender_workflow": "dry_run"}),
            "AIRFLOW_VAR_NURTURE_OPS_WORKFLOW_BACKUP_URL": f"file://{home}/workflow-backups",
        }
    )
    if pagerduty is not None:
        env["AIRFLOW_CONN_PAGERDUTY_EVENTS"] = pagerduty.connection_json()
        # Runs can only be dated up to 15 minutes ahead: the demo escalates Critical after 5.
        env["AIRFLOW_VAR_NURTURE_OPS_ESCALATION"] = json.dumps({"critical": {"escalate_after_minutes": 5}})
        env["AIRFLOW_CONN_SLACK_ESCALATION"] = json.dumps(
            {"conn_type": "slackwebhook", "host": f"{sink.url}/services", "password": ESCALATION_PATH}
        )
    return env


def run_dag(dag_id: str, when: datetime, env: dict[str, str], log_dir: Path) -> tuple[str, float, Path]:
    log_path = log_dir / f"{dag_id}.log"
    started = time.monotonic()
    with log_path.open("ab") as log:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), "dags", "test", dag_id, when.isoformat()],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    state = f"failed (exit code {result.returncode})" if result.returncode else last_run_state(env, dag_id)
    return state, time.monotonic() - started, log_path


def last_run_state(env: dict[str, str], dag_id: str) -> str:
    """The state of the DAG's newest run, read from the demo's own metadata database."""
    database = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as meta:
        row = meta.execute(
            "SELECT state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
    return row[0] if row else "no run"


def print_table(conn, title: str, query: str) -> None:
    rows = conn.execute(query).fetchall()
    print(f"\n{title}")
    if not rows:
        print("  (none)")
    for row in rows:
        print("  " + " | ".join("" if v is None else str(v) for v in row))


def main() -> int:
    when = anchor()
    work = REPO / ".local" / "demo"
    work.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="airflow-", dir=work))
    print(f"make demo: anchor {when.isoformat()} (the seeded anomalies are relative to it)")
    pg.start()
    pg.createdb(DEMO_DB, drop=True)
    with psycopg.connect(pg.dsn(DEMO_DB)) as conn:
        manifest = demo_seed.seed(conn, seed=42, now=when)
        # What SendGrid would report of the review's 7 days, counted from the seed; one day planted off.
        last = when.date() - timedelta(days=1)
        stats = stats_from_database(conn, last - timedelta(days=6), last)
    planted_day = (when.date() - timedelta(days=PLANTED_DAYS_BEFORE)).isoformat()
    planted = plant_discrepancy(stats, planted_day)
    print(f"  seeded {DEMO_DB}: " + ", ".join(f"{k} {v:,}" for k, v in manifest["counts"].items()))
    print(
        f"  fake SendGrid: stats of {len(stats)} days from the seed, {planted_day} planted with {planted} more "
        f"deliveries than the webhook recorded; status page: major incident {INCIDENT!r}"
    )
    sink = SlackSink(port=0, jsonl_path=work / "slack.jsonl", quiet=True)
    sink.start()
    n8n = FakeN8n(demo_workflows(), port=0, api_key="local-dev-key").start()
    pagerduty = FakePagerDuty(port=0, jsonl_path=work / "pagerduty.jsonl").start()
    sendgrid = FakeSendGrid(port=0, stats=stats).start()
    sendgrid.open_incident(INCIDENT, impact="major")
    supabase = FakeSupabase(port=0).start()
    env = airflow_env(home, sink, n8n, sendgrid, supabase, pagerduty)
    subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    outcomes = []
    pd_second = 0
    try:
        third = f"third pass (N8n queue raised to {QUEUE_BACKLOG} waiting executions)"
        for label, dag_ids in (
            ("first pass", DAGS),
            ("second pass (nothing new expected)", SECOND_PASS),
            (third, THIRD_PASS),
        ):
            print(f"\n== {label}")
            pd_before = len(pagerduty.events())
            if label == third:
                n8n.set_backlog(waiting=QUEUE_BACKLOG, running=3)
            for dag_id in dag_ids:
                if not (REPO / "dags" / f"{dag_id}.py").exists():
                    print(f"  {dag_id:<30} not in this checkout")
                    continue
                before = len(sink.payloads())
                state, seconds, log_path = run_dag(dag_id, when, env, work)
                payloads = sink.payloads()[before:]
                messages = [p.get("text", "") for p in payloads]
                outcomes.append((label, dag_id, state, messages))
                print(
                    f"  {dag_id:<30} {state:<8} {seconds:5.1f} s  {len(messages)} Slack message(s)  log {log_path}"
                )
                for payload in payloads:
                    print(f"      slack ← {payload.get('text', '')[:150]}")
                    for line in highlights(payload):
                        print(f"               {html.unescape(line)[:220]}")
            if label.startswith("second"):
                pd_second = len(pagerduty.events()) - pd_before
        outcomes += noisy_organization(when, env, work, sink, pagerduty)
        with psycopg.connect(pg.dsn(DEMO_DB), autocommit=True) as conn:
            print_table(
                conn,
                "Remediations (nurture_ops.remediation_audit)",
                "SELECT remediation_key, mode, outcome, rows_counted, rows_changed, detail->>'message', "
                "CASE WHEN reason LIKE '%SendGrid status%' THEN 'reason: ' || reason END "
                "FROM nurture_ops.remediation_audit ORDER BY id",
            )
            print_table(
                conn,
                "Alert state (nurture_ops.alert_state)",
                "SELECT alert_key, status, firing, notified_state, inhibited_by, notifications_sent "
                "FROM nurture_ops.alert_state ORDER BY alert_key, scope",
            )
    finally:
        supabase.stop()
        sendgrid.stop()
        n8n.stop()
        sink.stop()
        pagerduty.stop()
    second = [o for o in outcomes if o[0].startswith("second")]
    duplicates = [m for o in second for m in o[3] if not m.startswith("[RESOLVED]")]
    failed = [o[1] for o in outcomes if o[2] != "success"]
    print(f"\nSlack messages: {len(sink.payloads())} in {work / 'slack.jsonl'}")
    print(
        f"Second pass: {len(duplicates)} repeated alert(s) "
        + ("(none: deduplicated)" if not duplicates else str(duplicates))
    )
    print(
        f"PagerDuty events: {len(pagerduty.events())} in {work / 'pagerduty.jsonl'}; {pd_second} in the second pass"
    )
    print(f"DAG runs not successful: {', '.join(failed) if failed else 'none'}")
    return 1 if failed or duplicates or pd_second else 0


def _noisy_window(builder: Builder, org, healthy, end: datetime, *, failing: bool) -> None:
    """30 sends of the noisy organization (all failed, or all sent) and 400 healthy ones of
    another in the 5 minutes before `end`: globally at most 30 of 430 = 7 %, under the 10 %."""
    for organization, count, failed in ((org, 30, failing), (healthy, 400, False)):
        campaign = builder.campaign(organization)
        lead = builder.lead(organization)
        for i in range(count):
            created = end - timedelta(seconds=5 + i % 280)
            builder.send(
                lead,
                campaign,
                status="failed" if failed else "sent",
                created_at=created,
                sent_at=None if failed else created,
                failure_reason="SendGrid 401 Unauthorized: API key revoked" if failed else None,
            )


def noisy_organization(when: datetime, env, work: Path, sink: SlackSink, pagerduty: FakePagerDuty) -> list:
    """Act 5: a noisy organization over three more runs of the 5-minute DAG."""
    print(f"\n== a noisy organization ({NOISY_ORG}: every send fails, the global rate stays under 10 %)")
    outcomes = []
    steps = (
        (timedelta(minutes=5), True, "it starts failing: its own alert, grouped; PagerDuty trigger"),
        (
            timedelta(minutes=10),
            True,
            "unacknowledged for 5 minutes (the demo's wait for Critical): escalated",
        ),
        (timedelta(minutes=15), False, "it recovers: grouped resolve; PagerDuty resolve"),
    )
    with psycopg.connect(pg.dsn(DEMO_DB), autocommit=True) as conn:
        builder = Builder(conn, now=when)
        org, healthy = builder.org(NOISY_ORG), builder.org("Healthy Demo Org")
        for offset, failing, _ in steps:
            _noisy_window(builder, org, healthy, when + offset, failing=failing)
    for offset, _, what in steps:
        before, pd_before = len(sink.records()), len(pagerduty.events())
        state, seconds, _ = run_dag("nurture_alerts_5min", when + offset, env, work)
        records = sink.records()[before:]
        print(f"  +{int(offset.total_seconds() // 60):>2} min  {state:<8} {seconds:5.1f} s  {what}")
        for record in records:
            where = "slack_escalation" if record["path"].endswith(ESCALATION_PATH) else "slack"
            print(f"      {where} ← {record['payload'].get('text', '')[:150]}")
        for event in pagerduty.events()[pd_before:]:
            summary = (event.get("payload") or {}).get("summary", "")
            print(f"      pagerduty ← {event['event_action']} {event['dedup_key']} {summary[:90]}")
        outcomes.append(("noisy organization", "nurture_alerts_5min", state, []))
    print(f"  PagerDuty incidents still open: {pagerduty.open_incidents() or 'none'}")
    return outcomes


if __name__ == "__main__":
    sys.exit(main())
