"""What the Lead Nurture page shows, read from campaign_analytics and the nurture_ops tables.

Functions take a psycopg connection and return plain dicts (the JSON endpoints return them as they
are; the HTML page renders them). They never read email_sends: the KPIs and trends are the rollup's
daily figures (campaign_analytics), the alert board is nurture_ops.alert_state. Windows are whole
UTC days before `today` (the page's reference day, a parameter), half-open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from nurture_ops.alerting.state import SCHEMA
from nurture_ops.core import db
from nurture_ops.core.catalog import CHECKS, KPI_LABELS, Threshold
from nurture_ops.core.evaluate import threshold_status
from nurture_ops.core.text import fmt_level

# The KPIs of the runbook's table that campaign_analytics holds; the scheduler and sender success
# rates come from workflow_executions (the daily digest has them), not read by the page.
ANALYTICS_KPIS = ("delivery_rate", "open_rate", "click_rate", "unsubscribe_rate", "bounce_rate")
TREND_METRICS = ("open_rate", "click_rate", "bounce_rate", "unsubscribe_rate")
KPI_WINDOWS = (("yesterday", 1), ("last_7_days", 7), ("last_30_days", 30))
TREND_DAYS = (30, 90)
# The DAG that evaluates the checks of a cadence: acting on an alert needs edit permission on it.
ALERT_DAG_IDS = {
    "5min": "nurture_alerts_5min",
    "15min": "nurture_alerts_15min",
    "daily": "nurture_daily_health",
}
MIN_SCHEMA_VERSION = 4  # migration 004: acknowledgements, alert_actions


@dataclass(frozen=True)
class Scope:
    """The page's selection: every organization, one organization, or one campaign."""

    organization_id: str | None = None
    campaign_id: int | None = None

    def params(self) -> dict[str, Any]:
        return {"organization_id": self.organization_id, "campaign_id": self.campaign_id}


def alert_dag_id(alert_key: str) -> str | None:
    """The DAG evaluating an alert (None for a key the catalog does not know)."""
    check = CHECKS.get(alert_key)
    return ALERT_DAG_IDS.get(check.cadence) if check else None


def status(conn) -> dict:
    """What there is to show: the latest analytics day, the nurture_ops schema and its version."""
    row = db.fetch_one(conn, "ops_page/select_page_status.sql", schema=SCHEMA)
    version = 0
    if row["has_migrations"]:
        version = db.fetch_one(conn, "ops/select_schema_migration_version.sql", schema=SCHEMA)["version"]
    return {
        "latest_analytics_date": row["latest_analytics_date"],
        "has_alert_state": row["has_alert_state"],
        "schema_version": version,
        "alert_state_ready": row["has_alert_state"] and version >= MIN_SCHEMA_VERSION,
    }


def _level(direction: str, level: float | None, *, alert: bool) -> str | None:
    if level is None:
        return None
    worse_below = direction == "below"
    sign = ("<" if worse_below else ">") if alert else (">" if worse_below else "<")
    return f"{sign} {fmt_level(level)}%"


def kpis(conn, thresholds: tuple[Threshold, ...], *, today: date, scope: Scope = Scope()) -> dict:
    """The runbook's KPI table (value, target, alert level, status) for yesterday and the last 7
    and 30 days before `today`, against `thresholds` (the kpi_review check's, overrides included)."""
    windows = {}
    for name, days in KPI_WINDOWS:
        start = today - timedelta(days=days)
        totals = db.fetch_one(
            conn,
            "ops_page/select_kpi_totals.sql",
            {"start_day": start, "end_day": today, **scope.params()},
        )
        windows[name] = {"start_day": start, "end_day": today, **totals}
    rows = []
    for t in thresholds:
        if t.metric not in ANALYTICS_KPIS:
            continue
        rows.append(
            {
                "metric": t.metric,
                "label": KPI_LABELS.get(t.metric, t.metric),
                "target": _level(t.direction, t.target, alert=False),
                "alert": _level(t.direction, t.alert, alert=True),
                "values": {
                    name: {
                        "value": windows[name][t.metric],
                        "status": threshold_status(t, windows[name][t.metric], "critical"),
                    }
                    for name, _ in KPI_WINDOWS
                },
            }
        )
    not_shown = [KPI_LABELS.get(t.metric, t.metric) for t in thresholds if t.metric not in ANALYTICS_KPIS]
    return {"today": today, "windows": windows, "rows": rows, "not_shown": not_shown}


def trends(
    conn, thresholds: tuple[Threshold, ...], *, today: date, days: int, scope: Scope = Scope()
) -> dict:
    """Open, click, bounce and unsubscribe rates per day over the `days` before `today`, with
    each metric's target and alert level."""
    start = today - timedelta(days=days)
    rows = db.fetch_all(
        conn, "ops_page/select_daily_rates.sql", {"start_day": start, "end_day": today, **scope.params()}
    )
    levels = {t.metric: t for t in thresholds}
    return {
        "start_day": start,
        "end_day": today,
        "days": days,
        "series": {
            metric: {
                "label": KPI_LABELS.get(metric, metric),
                "target": levels[metric].target if metric in levels else None,
                "alert": levels[metric].alert if metric in levels else None,
                "direction": levels[metric].direction if metric in levels else None,
                "points": [{"day": r["day"], "value": r[metric]} for r in rows],
            }
            for metric in TREND_METRICS
        },
        "emails_sent": [{"day": r["day"], "value": r["emails_sent"]} for r in rows],
    }


def organizations(conn, *, today: date, days: int, max_rows: int = 100) -> list[dict]:
    """Organizations ranked by bounce, unsubscribe and failure rate over the `days` before `today`."""
    return db.fetch_all(
        conn,
        "ops_page/select_organization_ranking.sql",
        {"start_day": today - timedelta(days=days), "end_day": today, "max_rows": max_rows},
    )


def filter_choices(conn) -> list[dict]:
    return db.fetch_all(conn, "ops_page/select_filter_choices.sql")


def _run_link(run: str | None) -> str | None:
    """'<dag_id>/<run_id>' -> the run's page in the Airflow UI (root-relative)."""
    if not run or "/" not in run:
        return None
    dag_id, run_id = run.split("/", 1)
    return f"/dags/{dag_id}/runs/{run_id}"


def alert_board(conn, *, at: datetime, resolved_rows: int = 10) -> dict:
    """What fires now (with the runbook's actions, silence, acknowledgement and the run that last
    evaluated it), the silences in force, and the last resolved alerts."""
    firing = []
    for row in db.fetch_all(conn, "ops_page/select_firing_alerts.sql", {"at": at}, schema=SCHEMA):
        check = CHECKS.get(row["alert_key"])
        firing.append(
            {
                **row,
                "title": check.title if check else row["alert_key"],
                "runbook_section": check.runbook_section if check else None,
                "actions": list(check.actions) if check else [],
                "dag_id": alert_dag_id(row["alert_key"]),
                "run_link": _run_link(row["last_evaluated_run"]),
                "silenced": row["silence_id"] is not None,
                "acknowledged": row["acknowledged_at"] is not None,
            }
        )
    resolved = [
        {
            **row,
            "title": CHECKS[row["alert_key"]].title if row["alert_key"] in CHECKS else row["alert_key"],
            "run_link": _run_link(row["last_evaluated_run"]),
        }
        for row in db.fetch_all(
            conn, "ops_page/select_resolved_alerts.sql", {"max_rows": resolved_rows}, schema=SCHEMA
        )
    ]
    silences = [
        {
            **row,
            "title": CHECKS[row["alert_key"]].title if row["alert_key"] in CHECKS else row["alert_key"],
            "dag_id": alert_dag_id(row["alert_key"]),
        }
        for row in db.fetch_all(conn, "ops_page/select_active_silences.sql", {"at": at}, schema=SCHEMA)
    ]
    return {"at": at, "firing": firing, "silences": silences, "resolved": resolved}


def remediation_audit(conn, *, max_rows: int = 20) -> list[dict]:
    return db.fetch_all(conn, "ops_page/select_remediation_audit.sql", {"max_rows": max_rows}, schema=SCHEMA)


def operator_actions(conn, *, max_rows: int = 20) -> list[dict]:
    return db.fetch_all(conn, "ops_page/select_alert_actions.sql", {"max_rows": max_rows}, schema=SCHEMA)
