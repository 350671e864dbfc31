"""SendGrid's public status page (an Atlassian Statuspage, https://status.sendgrid.com): the first
action of the High Email Failure Rate alert, "Check SendGrid API status", done when it fires.

Statuspage API v2, no key:

    GET /api/v2/summary.json
    -> {"page": {...}, "status": {"indicator": "none|minor|major|critical", "description": "..."},
        "components": [...], "incidents": [{"name": "...", "status": "investigating|identified|
        monitoring", "impact": "none|minor|major|critical", "shortlink": "...", ...}], ...}

summary.json carries the page's status (what /api/v2/status.json answers) and its unresolved
incidents (/api/v2/incidents/unresolved.json) in one call: one 3 s timeout, not two.

Connection `sendgrid_status` (type http, optional): host = the status page's base URL; without
the connection (or its host) https://status.sendgrid.com. The call is made once per alert
(fire and reminders), with a 3 s timeout per attempt and no retry past 3 s in all: the alert
must not wait on it. What cannot be fetched reads "status unknown: <why>".
"""

from __future__ import annotations

from typing import Any

from nurture_ops.integrations.http_api import Api, ApiError, JsonClient, read_connection

SENDGRID_STATUS = Api(
    name="SendGrid status page",
    conn_id="sendgrid_status",
    default_host="https://status.sendgrid.com",
    bearer=False,
    optional=True,
)
SUMMARY_PATH = "/api/v2/summary.json"
TIMEOUT_S = 3.0
INDICATORS = ("none", "minor", "major", "critical")
UPSTREAM = frozenset({"major", "critical"})
MAX_INCIDENTS = 5


def fetch_status(conn_id: str | None = None, *, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """The page's indicator and description and its unresolved incidents; never raises for a
    missing, slow, failing or unexpected page: {"known": False, "error": why} then."""
    try:
        api = JsonClient(
            SENDGRID_STATUS,
            read_connection(SENDGRID_STATUS, conn_id),
            timeout=timeout,
            attempts=1,  # one try within the 3 s: a retry's wait would outlast the alert's budget for it
            retry_wait_s=0.2,
            deadline_s=timeout,
        )
        body = api.get(SUMMARY_PATH)
        return parse_summary(body, api)
    except ApiError as exc:
        return {"known": False, "error": str(exc)}


def parse_summary(body: Any, api: JsonClient) -> dict[str, Any]:
    status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(status, dict) or status.get("indicator") not in INDICATORS:
        raise api.malformed(SUMMARY_PATH, "no status.indicator (none, minor, major or critical)")
    incidents = body.get("incidents", [])
    if not isinstance(incidents, list):
        raise api.malformed(SUMMARY_PATH, "'incidents' is not a list")
    unresolved = [
        {
            "name": str(i.get("name") or "(unnamed)"),
            "status": str(i.get("status") or "?"),
            "impact": str(i.get("impact") or "none"),
            "shortlink": i.get("shortlink"),
        }
        for i in incidents
        if isinstance(i, dict) and i.get("status") not in ("resolved", "postmortem")
    ]
    page = body.get("page") if isinstance(body.get("page"), dict) else {}
    return {
        "known": True,
        "indicator": status["indicator"],
        "description": str(status.get("description") or status["indicator"]),
        "incidents": unresolved,
        "url": page.get("url") or api.base_url,
    }


def likely_upstream(status: dict[str, Any]) -> bool:
    """SendGrid reports a major or critical incident (or page status)."""
    if not status.get("known"):
        return False
    return status["indicator"] in UPSTREAM or any(i["impact"] in UPSTREAM for i in status["incidents"])


def status_text(status: dict[str, Any]) -> str:
    """One plain line for the alert and the pause-sender fix's audit row."""
    if not status.get("known"):
        return f"SendGrid status unknown: {status.get('error') or 'not fetched'}"
    text = f"SendGrid status: {status['description']} (indicator {status['indicator']})"
    incidents = status["incidents"]
    if incidents:
        listed = "; ".join(
            f"{i['name']} ({i['status']}, impact {i['impact']})" for i in incidents[:MAX_INCIDENTS]
        )
        more = len(incidents) - MAX_INCIDENTS
        text += f"; unresolved incidents: {listed}" + (f" and {more} more" if more > 0 else "")
    else:
        text += "; no unresolved incidents"
    if likely_upstream(status):
        text += ". Cause likely upstream: SendGrid reports a major or critical incident"
    return text
