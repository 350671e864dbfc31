"""Checks measured outside the database, and what an alert learns from outside when it fires.

measured_through_api(key)      the catalog entries whose `source` is an API, not SQL
measure_through_api(check, at) their one metrics row (same shape as a SQL measure's): N8n's
                               execution queue, Supabase's latest backup; a missing
                               connection or a failed call is "no data" with the reason in
                               the summary, never a failed task
enrich(key, finding)           the finding with what the outside says when it fires or
                               reminds: SendGrid's status for High Email Failure Rate
                               (finding.extra["upstream"]), shown in its message and named in
                               the pause-sender fix's audit row
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from nurture_ops.core.catalog import (
    DATABASE_BACKUP_MISSING,
    HIGH_EMAIL_FAILURE_RATE,
    N8N_EXECUTION_QUEUE_BACKLOG,
    Check,
)
from nurture_ops.core.evaluate import Finding
from nurture_ops.integrations import statuspage, supabase
from nurture_ops.integrations.http_api import NotConfigured, describe_failure
from nurture_ops.integrations.n8n import N8N_CONN_ID, N8nClient, N8nError

log = logging.getLogger(__name__)

N8N_TIMEOUT_S = 10


def _n8n_client() -> N8nClient:
    from airflow.sdk import BaseHook

    try:
        connection = BaseHook.get_connection(N8N_CONN_ID)
    except Exception as exc:
        if "isn't defined" in str(exc) or "not found" in str(exc).lower():
            raise NotConfigured(f"the Airflow connection '{N8N_CONN_ID}' is not defined") from None
        raise
    try:
        return N8nClient(connection, N8N_TIMEOUT_S)
    except N8nError as exc:  # an empty host or key
        raise NotConfigured(str(exc)) from None


def queue_metrics(counted: dict[str, Any], alert: float) -> dict[str, Any]:
    """Pure: N8nClient.count_executions' answer as the check's metrics."""
    by_status = counted["by_status"]
    parts = ", ".join(f"{n} {status}" for status, n in by_status.items())
    if counted["complete"]:
        text = f"{counted['counted']} ({parts})"
    else:
        text = f"more than {alert:g} (counting stopped at {counted['counted']}: {parts})"
    return {
        "queued_executions": counted["counted"],
        "queue_text": text,
        "counted_all": counted["complete"],
        "pages": counted["pages"],
        **{f"{status}_executions": n for status, n in by_status.items()},
    }


def measure_n8n_queue(check: Check, at: datetime) -> dict[str, Any]:
    """Runbook 5 "Scale N8n": executions waiting or running, counted until past the alert level."""
    alert = check.thresholds[0].alert
    try:
        counted = _n8n_client().count_executions(
            stop_above=int(alert), page_size=int(check.params.get("page_size", 100))
        )
    except (NotConfigured, N8nError) as exc:
        text = describe_failure(exc)
        log.warning("%s not measured: %s", check.title, text)
        return {"queued_executions": None, "queue_text": text}
    return queue_metrics(counted, alert)


def measure_backups(check: Check, at: datetime) -> dict[str, Any]:
    """Runbook 6 "Database (Daily)": the latest backup, completed and younger than max_age_hours."""
    verdict = supabase.verify_backups(at, float(check.params["max_age_hours"]))
    missing = {"ok": 0, "missing": 1}.get(verdict["state"])
    if missing is None:
        log.warning("%s not measured: %s", check.title, verdict["text"])
    return {"backup_missing": missing, "backup_text": verdict["text"], "details": verdict}


API_MEASURES: dict[str, Callable[[Check, datetime], dict[str, Any]]] = {
    N8N_EXECUTION_QUEUE_BACKLOG.key: measure_n8n_queue,
    DATABASE_BACKUP_MISSING.key: measure_backups,
}


def measured_through_api(check_key: str) -> bool:
    return check_key in API_MEASURES


def measure_through_api(check: Check, at: datetime) -> dict[str, Any]:
    return API_MEASURES[check.key](check, at)


# ---- enrichment: what the outside says when an alert fires -----------------------------------------


def sendgrid_status() -> dict[str, Any]:
    status = statuspage.fetch_status()
    return {
        "source": "SendGrid status page",
        "text": statuspage.status_text(status),
        "likely_upstream": statuspage.likely_upstream(status),
        "status": status,
    }


ENRICHMENTS: dict[str, Callable[[], dict[str, Any]]] = {HIGH_EMAIL_FAILURE_RATE.key: sendgrid_status}


def enrich(check_key: str, finding: Finding) -> Finding:
    """The finding with finding.extra["upstream"] set, for the checks that have an enrichment (an
    outside call with a short timeout; call it with no database transaction open)."""
    fetch = ENRICHMENTS.get(check_key)
    if fetch is None:
        return finding
    upstream = fetch()
    log.info("%s: %s", finding.title, upstream["text"])
    return dataclasses.replace(finding, extra={**finding.extra, "upstream": upstream})


def upstream_text(finding: Finding) -> str | None:
    """The enrichment's line (plain text), or None."""
    upstream = (finding.extra or {}).get("upstream")
    return upstream.get("text") if isinstance(upstream, dict) else None
