"""Supabase's Management API: is the latest database backup there (runbook 6 "Automated Backups ›
Database (Daily)": "Supabase provides automatic backups. Verify").

Connection `supabase_api` (type http): host https://api.supabase.com (the default when empty),
password = a personal access token (Account › Access Tokens), extra {"project_ref": "<ref>"} (the
project's reference id, as in https://<ref>.supabase.co).

    GET /v1/projects/{ref}/database/backups
    -> {"region": "...", "walg_enabled": true, "pitr_enabled": false,
        "backups": [{"is_physical_backup": true, "status": "COMPLETED", "inserted_at": "2025-...Z"}],
        "physical_backup_data": {"earliest_physical_backup_date_unix": 1730000000,
                                 "latest_physical_backup_date_unix": 1730086400}}

`verify_backups` says, for the run's time: the latest completed backup (and the latest
point-in-time recovery point where PITR is enabled) and whether it is younger than the limit
(26 h by default: a daily backup plus slack), or why it could not tell ("not configured",
"API failed: ...").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from nurture_ops.integrations.http_api import (
    Api,
    ApiError,
    JsonClient,
    NotConfigured,
    describe_failure,
    read_connection,
)

SUPABASE = Api(
    name="Supabase Management API",
    conn_id="supabase_api",
    default_host="https://api.supabase.com",
    extra_keys=("api_key", "project_ref"),
    key_hint="create a personal access token in Supabase under Account › Access Tokens",
)
TIMEOUT_S = 10
COMPLETED = "COMPLETED"


def client(conn_id: str | None = None, **kwargs: Any) -> JsonClient:
    return JsonClient(SUPABASE, read_connection(SUPABASE, conn_id), **{"timeout": TIMEOUT_S, **kwargs})


def project_ref(api: JsonClient) -> str:
    ref = str(api.extra.get("project_ref") or "").strip()
    if not ref:
        raise NotConfigured(f"the Supabase project ref is empty: set extra 'project_ref' of {api.where}")
    return ref


def list_backups(api: JsonClient) -> dict:
    """The backups answer of the connection's project (shape checked)."""
    path = f"/v1/projects/{quote(project_ref(api), safe='')}/database/backups"
    body = api.get(path)
    if not isinstance(body, dict) or not isinstance(body.get("backups"), list):
        raise api.malformed(path, "no 'backups' list")
    for backup in body["backups"]:
        if not isinstance(backup, dict) or not isinstance(backup.get("status"), str):
            raise api.malformed(path, f"a backup without a status: {str(backup)[:80]}")
        if _parse_time(backup.get("inserted_at")) is None:
            raise api.malformed(path, f"a backup without a valid inserted_at: {str(backup)[:80]}")
    return body


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _hours(delta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def backup_status(body: dict, at: datetime, max_age_hours: float) -> dict[str, Any]:
    """Pure: the backups answer judged at the run's time `at` (backups after it are not looked at,
    so a rerun of a past day answers for that day)."""
    backups = [
        (_parse_time(b["inserted_at"]), str(b["status"]).upper())
        for b in body["backups"]
        if _parse_time(b["inserted_at"]) <= at
    ]
    completed = sorted(when for when, status in backups if status == COMPLETED)
    latest_any = max(backups, default=None)
    pitr = body.get("pitr_enabled")
    physical = body.get("physical_backup_data") if isinstance(body.get("physical_backup_data"), dict) else {}
    pitr_latest = None
    stamp = physical.get("latest_physical_backup_date_unix")
    if pitr and isinstance(stamp, int | float) and not isinstance(stamp, bool):
        pitr_latest = datetime.fromtimestamp(stamp, UTC)
        pitr_latest = pitr_latest if pitr_latest <= at else at
    latest = completed[-1] if completed else None
    age = _hours(at - latest) if latest else None
    pitr_age = _hours(at - pitr_latest) if pitr_latest else None
    fresh = [a for a in (age, pitr_age) if a is not None and a < max_age_hours]
    result = {
        "state": "ok" if fresh else "missing",
        "max_age_hours": max_age_hours,
        "latest_completed_at": latest.isoformat() if latest else None,
        "age_hours": age,
        "latest_status": latest_any[1] if latest_any else None,
        "latest_at": latest_any[0].isoformat() if latest_any else None,
        "backups": len(backups),
        "pitr_enabled": pitr if isinstance(pitr, bool) else None,
        "pitr_latest_at": pitr_latest.isoformat() if pitr_latest else None,
        "pitr_age_hours": pitr_age,
    }
    result["text"] = backup_text(result)
    return result


def backup_text(status: dict[str, Any]) -> str:
    """One plain line: what the digest shows and the warning says."""
    if status["state"] == "ok":
        parts = []
        if status["latest_completed_at"]:
            parts.append(
                f"latest backup completed {status['latest_completed_at'][:16].replace('T', ' ')} UTC, "
                f"{status['age_hours']:g} h before the run"
            )
        else:
            parts.append("no daily backup listed")
        if status["pitr_enabled"]:
            parts.append(
                f"point-in-time recovery on, latest restore point {status['pitr_age_hours']:g} h old"
            )
        elif status["pitr_enabled"] is False:
            parts.append("point-in-time recovery off")
        return "; ".join(parts)
    limit = f"{status['max_age_hours']:g} h"
    if status["latest_completed_at"]:
        problem = f"the latest completed backup is {status['age_hours']:g} h old (limit {limit})"
    else:
        problem = f"no completed backup among {status['backups']} listed"
    if status["latest_status"] and status["latest_status"] != COMPLETED:
        problem += f"; the latest backup ({status['latest_at'][:16].replace('T', ' ')} UTC) is {status['latest_status']}"
    if status["pitr_enabled"]:
        problem += (
            f"; point-in-time recovery on, latest restore point {status['pitr_age_hours']:g} h old"
            if status["pitr_age_hours"] is not None
            else "; point-in-time recovery on, no restore point reported"
        )
    return problem


def verify_backups(at: datetime, max_age_hours: float, *, conn_id: str | None = None, **kwargs: Any) -> dict:
    """The backup verdict for the run at `at`: state ok / missing (with `text`), or not_configured
    / api_failed with `text` saying why. Never raises for a missing connection or a failed call."""
    try:
        api = client(conn_id, **kwargs)
        return backup_status(list_backups(api), at, max_age_hours)
    except NotConfigured as exc:
        return {"state": "not_configured", "text": describe_failure(exc)}
    except ApiError as exc:
        return {"state": "api_failed", "text": describe_failure(exc)}
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:  # a shape we do not know
        return {
            "state": "api_failed",
            "text": f"API failed: Supabase answered with a backup list this check cannot read ({type(exc).__name__}: {exc})",
        }
