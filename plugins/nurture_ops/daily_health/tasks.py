"""Tasks of nurture_daily_health besides its check groups: the daily digest, posted once per day."""

from __future__ import annotations

from airflow.sdk import TriggerRule, get_current_context, task

from nurture_ops.alerting import notify
from nurture_ops.alerting import state as alert_state
from nurture_ops.core import db
from nurture_ops.core.settings import load_settings
from nurture_ops.core.windows import run_time
from nurture_ops.daily_health.logic import collect
from nurture_ops.daily_health.report import message
from nurture_ops.integrations.supabase import verify_backups

DIGEST_KEY = "daily_health_digest"


# After every check group (alert_tasks(after_checks=...)), whatever each ended in: the digest
# reports the state the fixes left, whichever order the executor ran the checks in.
@task(task_id="daily_digest", trigger_rule=TriggerRule.ALL_DONE)
def daily_digest_task() -> str:
    """Post the digest once per day (a rerun of the same day does not post it twice)."""
    context = get_current_context()
    at = run_time(context)
    settings = load_settings()
    # Runbook 6 "Database (Daily)": an outside call, made before any database connection is open.
    backup = settings.check("database_backup_missing")
    backups = verify_backups(at, float(backup.params["max_age_hours"]))
    # write: the send-once row lives in nurture_ops (and ensure_schema may migrate it)
    with db.connect(purpose="write") as conn:
        alert_state.ensure_schema(conn)
        digest = collect(conn, settings, at)
        built = message(
            digest, settings.check("kpi_review").thresholds, run_url=notify.run_url(context), backups=backups
        )
        conn_id = notify.route("warning")
        sent = alert_state.send_once(
            conn,
            DIGEST_KEY,
            str(digest["day"]),
            lambda: notify.send(built, conn_id),
            text=built["text"],
            slack_conn_id=conn_id,
            evaluated_at=at,
            dag_id=context["ti"].dag_id,
            run_id=context["ti"].run_id,
        )
    return built["text"] if sent else f"digest for {digest['day']} was already posted"
