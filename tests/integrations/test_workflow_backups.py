"""integrations.workflow_backups and the backup location: where exports go, which is the newest."""

from __future__ import annotations

from datetime import UTC, datetime

from nurture_ops.core.settings import backup_url
from nurture_ops.integrations import workflow_backups


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


RUN = utc("2026-11-09 07:00")


def test_backup_url_defaults_under_airflow_home():
    env = {"AIRFLOW_HOME": "/opt/airflow", "HOME": "/home/ops"}
    assert backup_url(None, env) == "file:///opt/airflow/nurture_ops/workflow-backups"
    assert backup_url("  ", {"HOME": "/home/ops"}) == "file:///home/ops/airflow/nurture_ops/workflow-backups"
    assert backup_url("s3://aws_default@bucket/n8n", env) == "s3://aws_default@bucket/n8n"
    assert backup_url(" /var/backups/n8n ", env) == "file:///var/backups/n8n"


def test_export_recency_judges_the_newest_complete_export_up_to_the_run():
    labels = ["2026-09-21", "2026-09-28", "2026-09-28-2", "2026-10-05", "notes", "2026-13-01x"]
    result = workflow_backups.export_recency(labels, utc("2026-10-01 08:00"), location="file:///b")
    assert result == {
        "location": "file:///b",
        "max_age_days": 8,
        "exports": 3,  # 2026-10-05 is after the run; the others are not export folders
        "last_export": "2026-09-28-2",
        "age_days": 3,
        "recent": True,
    }
    eight = workflow_backups.export_recency(["2026-09-23"], utc("2026-10-01 08:00"), location="x")
    nine = workflow_backups.export_recency(["2026-09-22"], utc("2026-10-01 08:00"), location="x")
    assert (eight["age_days"], eight["recent"]) == (8, True)
    assert (nine["age_days"], nine["recent"]) == (9, False)
    none = workflow_backups.export_recency([], utc("2026-10-01 08:00"), location="x")
    assert (none["last_export"], none["age_days"], none["recent"]) == (None, None, False)
