"""What every DAG of the package shares: owner, tags, task defaults (retries, the Slack failure
callback) and static start dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nurture_ops.alerting import notify

OWNER = "nurture-ops"


ALLOWED_TAGS = {
    "nurture",
    "alerts",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "annual",
    "analytics",
    "maintenance",
}


def default_args(**overrides) -> dict:
    """Task defaults for every DAG: owner, retries, and the Slack failure callback."""
    return {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "on_failure_callback": notify.task_failure_callback,
        **overrides,
    }


def utc(year: int, month: int, day: int) -> datetime:
    """A static start_date for DAG files."""
    return datetime(year, month, day, tzinfo=UTC)
