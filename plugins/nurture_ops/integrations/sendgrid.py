"""SendGrid's Stats API v3, for the weekly "Check SendGrid deliverability stats" (runbook 7).

Connection `sendgrid_api` (type http): host https://api.sendgrid.com (the default when empty),
password = an API key with the `stats.read` scope (Settings › API Keys), sent as Bearer.

    GET /v3/stats?start_date=YYYY-MM-DD&end_date=YYYY-MM-DD&aggregated_by=day
    -> [{"date": "2026-11-23", "stats": [{"metrics": {"requests": 310, "delivered": 301,
         "bounces": 4, "blocks": 2, "bounce_drops": 1, "spam_reports": 0, "unique_opens": 120,
         "unique_clicks": 21, "unsubscribes": 2, ...}}]}, ...]

end_date is inclusive; SendGrid answers one entry per day. Errors come as
{"errors": [{"field": ..., "message": ...}]}.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from nurture_ops.integrations.http_api import Api, JsonClient, read_connection

SENDGRID = Api(
    name="SendGrid",
    conn_id="sendgrid_api",
    default_host="https://api.sendgrid.com",
    key_hint="create a key with the stats.read scope in SendGrid under Settings › API Keys",
)
STATS_PATH = "/v3/stats"
TIMEOUT_S = 20
# The metrics the reconciliation reads (SendGrid reports more: opens, clicks, deferred, ...).
METRICS = (
    "requests",
    "delivered",
    "bounces",
    "blocks",
    "bounce_drops",
    "spam_reports",
    "unique_opens",
    "unique_clicks",
    "unsubscribes",
)


def client(conn_id: str | None = None, **kwargs: Any) -> JsonClient:
    return JsonClient(SENDGRID, read_connection(SENDGRID, conn_id), **{"timeout": TIMEOUT_S, **kwargs})


def daily_stats(api: JsonClient, first: date, last: date) -> dict[str, dict[str, int]]:
    """Day (ISO) -> the METRICS of that day, for [first, last] (both included); a day SendGrid
    leaves out counts as zeros."""
    params = {"start_date": first.isoformat(), "end_date": last.isoformat(), "aggregated_by": "day"}
    body = api.get(STATS_PATH, params)
    if not isinstance(body, list):
        raise api.malformed(STATS_PATH, f"expected a list of days, got {type(body).__name__}")
    days: dict[str, dict[str, int]] = {}
    for entry in body:
        if not isinstance(entry, dict) or not isinstance(entry.get("stats"), list):
            raise api.malformed(STATS_PATH, f"a day without a 'stats' list: {str(entry)[:80]}")
        try:
            day = date.fromisoformat(str(entry.get("date"))).isoformat()
        except ValueError:
            raise api.malformed(STATS_PATH, f"a day without a valid 'date': {str(entry)[:80]}") from None
        totals = dict.fromkeys(METRICS, 0)
        for stat in entry["stats"]:
            values = stat.get("metrics") if isinstance(stat, dict) else None
            if not isinstance(values, dict):
                raise api.malformed(STATS_PATH, f"{day}: a stat without 'metrics'")
            for name in METRICS:
                value = values.get(name, 0)
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise api.malformed(STATS_PATH, f"{day}: {name} is not a count ({value!r})")
                totals[name] += value
        days[day] = totals
    return days
