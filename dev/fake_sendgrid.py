"""A local stand-in for SendGrid's Stats API v3 and its status page (never used by a deployment).

    python -m dev.fake_sendgrid --port 8767 [--dsn DSN] [--plant] [--incident NAME] [--pidfile F]

It listens on 127.0.0.1 only and answers, the way SendGrid and its Atlassian Statuspage do:

    GET /v3/stats?start_date=YYYY-MM-DD&end_date=YYYY-MM-DD&aggregated_by=day   (Bearer key)
        -> [{"date": "2026-11-23", "stats": [{"metrics": {"requests": 310, "delivered": 301,
             "bounces": 4, "blocks": 2, "bounce_drops": 1, "spam_reports": 0, "unique_opens": 120,
             "unique_clicks": 21, "unsubscribes": 2, ...}}]}, ...]   one entry per day, end inclusive
        401 {"errors": [{"field": null, "message": "authorization required"}]} without the key,
        400 {"errors": [{"field": "start_date", "message": "..."}]} for a bad date
    GET /api/v2/summary.json            -> {"page", "status": {"indicator", "description"},
                                            "components": [], "incidents": [...], ...}
    GET /api/v2/status.json             -> {"page", "status"}
    GET /api/v2/incidents/unresolved.json -> {"page", "incidents"}
    POST /_incident?name=N&impact=major  (local control) opens an incident; POST /_incident clears

The stats come from `stats` (day -> metrics) or, with a database (`--dsn`, or `dsn=`), are counted
from it at request time the way SendGrid would have seen the sends and events the database holds
(`stats_from_database`): consistent with the seed and the simulator. `plant_discrepancy` (or
`--plant`) then changes one day the way a real incident would: SendGrid reports more deliveries
than the webhook recorded (the Event Tracker dropped events), which the weekly review must find.

    AIRFLOW_CONN_SENDGRID_API='{"conn_type": "http", "host": "http://127.0.0.1:8767",
        "password": "dev-sendgrid-key"}'
    AIRFLOW_CONN_SENDGRID_STATUS='{"conn_type": "http", "host": "http://127.0.0.1:8767"}'
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dev.loopback_server import LoopbackServer, QuietHandler, cli_parser, serve_until_signalled

DEFAULT_PORT = int(os.environ.get("NURTURE_FAKE_SENDGRID_PORT", "8767"))
DEV_API_KEY = "dev-sendgrid-key"  # a local dummy, not a secret
METRICS = (
    "blocks",
    "bounce_drops",
    "bounces",
    "clicks",
    "deferred",
    "delivered",
    "invalid_emails",
    "opens",
    "processed",
    "requests",
    "spam_report_drops",
    "spam_reports",
    "unique_clicks",
    "unique_opens",
    "unsubscribe_drops",
    "unsubscribes",
)
DESCRIPTIONS = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}
# The demo's planted discrepancy: on this day before the run SendGrid delivered more than the
# webhook recorded.
PLANTED_DAYS_BEFORE = 3
PLANTED_FRACTION = 0.08

# What SendGrid counted, per UTC day, from what the database holds (an independent count: not the
# package's reconciliation SQL). Sends handed to SendGrid: sent or bounced (a failed send never
# reached it).
STATS_SQL = """
WITH days AS (
    SELECT d::date AS day FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d
), s AS (
    SELECT (actual_send_time AT TIME ZONE 'UTC')::date AS day, count(*) AS requests
    FROM email_sends
    WHERE send_status IN ('sent', 'bounced')
      AND actual_send_time >= %(first)s::date AND actual_send_time < %(last)s::date + 1
    GROUP BY 1
), e AS (
    SELECT (event_timestamp AT TIME ZONE 'UTC')::date AS day,
        count(DISTINCT email_send_id) FILTER (WHERE event_type = 'delivered') AS delivered,
        count(DISTINCT email_send_id) FILTER (WHERE event_type = 'bounce'
            AND coalesce(payload->>'type', 'bounce') <> 'blocked') AS bounces,
        count(DISTINCT email_send_id) FILTER (WHERE event_type = 'bounce'
            AND payload->>'type' = 'blocked') AS blocks,
        count(DISTINCT email_send_id) FILTER (WHERE event_type = 'dropped') AS bounce_drops,
        count(DISTINCT email_send_id) FILTER (WHERE event_type = 'spamreport') AS spam_reports,
        count(DISTINCT email_send_id) FILTER (WHERE event_type = 'open') AS unique_opens,
        count(DISTINCT email_send_id) FILTER (WHERE event_type = 'click') AS unique_clicks,
        count(DISTINCT email_send_id) FILTER (WHERE event_type = 'unsubscribe') AS unsubscribes
    FROM email_events
    WHERE event_timestamp >= %(first)s::date AND event_timestamp < %(last)s::date + 1
    GROUP BY 1
)
SELECT days.day, coalesce(s.requests, 0) AS requests, coalesce(e.delivered, 0) AS delivered,
    coalesce(e.bounces, 0) AS bounces, coalesce(e.blocks, 0) AS blocks,
    coalesce(e.bounce_drops, 0) AS bounce_drops, coalesce(e.spam_reports, 0) AS spam_reports,
    coalesce(e.unique_opens, 0) AS unique_opens, coalesce(e.unique_clicks, 0) AS unique_clicks,
    coalesce(e.unsubscribes, 0) AS unsubscribes
FROM days LEFT JOIN s USING (day) LEFT JOIN e USING (day) ORDER BY days.day
"""


def metrics(**values: int) -> dict[str, int]:
    """A full metrics object (every metric SendGrid reports; those not given are 0)."""
    unknown = set(values) - set(METRICS)
    if unknown:
        raise ValueError(f"not SendGrid metrics: {sorted(unknown)}")
    out = {name: int(values.get(name, 0)) for name in METRICS}
    out["processed"] = out["processed"] or out["requests"]
    out["opens"] = out["opens"] or out["unique_opens"]
    out["clicks"] = out["clicks"] or out["unique_clicks"]
    return out


def stats_from_database(conn, first: date, last: date) -> dict[str, dict[str, int]]:
    """Day (ISO) -> metrics, for [first, last], counted from the lead-nurture database."""
    with conn.cursor() as cur:
        cur.execute(STATS_SQL, {"first": first, "last": last})
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return {row.pop("day").isoformat(): metrics(**row) for row in rows}


def plant_discrepancy(
    stats: dict[str, dict[str, int]],
    day: str,
    *,
    metric: str = "delivered",
    fraction: float = PLANTED_FRACTION,
) -> int:
    """Make SendGrid's `metric` of `day` higher than the database's by `fraction` (at least 5):
    the webhook dropped that many events. Returns how many were added."""
    added = max(5, round(stats[day][metric] * fraction))
    stats[day][metric] += added
    return added


class FakeSendGrid(LoopbackServer):
    thread_name = "fake-sendgrid"

    def __init__(
        self,
        *,
        port: int = 0,
        api_key: str = DEV_API_KEY,
        stats: dict[str, dict[str, int]] | None = None,
        dsn: str | None = None,
        plant: bool = False,
        quiet: bool = True,
    ):
        super().__init__(port)
        self.api_key = api_key
        self.stats = stats if stats is not None else {}
        self.dsn = dsn
        self.plant = plant
        self.planted: dict[str, Any] | None = None
        self.indicator = "none"
        self.incidents: list[dict] = []
        self.delay_s = 0.0
        self.stats_body: str | None = None  # a canned /v3/stats answer (e.g. malformed)
        self.status_body: str | None = None  # a canned status page answer
        self.quiet = quiet
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.queries: list[dict[str, list[str]]] = []
        self.headers: list[dict[str, str]] = []

    def handler_class(self):
        return _make_handler(self)

    def connection_json(self, api_key: str | None = None) -> str:
        return json.dumps(
            {
                "conn_type": "http",
                "host": self.url,
                "password": api_key if api_key is not None else self.api_key,
            }
        )

    def status_connection_json(self) -> str:
        return json.dumps({"conn_type": "http", "host": self.url})

    # -- status page ---------------------------------------------------------------------------

    def open_incident(self, name: str, impact: str = "major", status: str = "investigating") -> None:
        with self.lock:
            self.incidents.append(
                {
                    "id": f"inc{len(self.incidents) + 1}",
                    "name": name,
                    "status": status,
                    "impact": impact,
                    "shortlink": f"https://stspg.io/inc{len(self.incidents) + 1}",
                    "created_at": datetime.now(UTC).isoformat(),
                    "incident_updates": [],
                }
            )
            order = ["none", "minor", "major", "critical"]
            self.indicator = max([self.indicator, impact], key=order.index)

    def clear_incidents(self) -> None:
        with self.lock:
            self.incidents, self.indicator = [], "none"

    def _page(self) -> dict:
        return {"id": "fake", "name": "Twilio SendGrid", "url": self.url, "time_zone": "Etc/UTC"}

    def summary(self) -> dict:
        with self.lock:
            return {
                "page": self._page(),
                "status": {"indicator": self.indicator, "description": DESCRIPTIONS[self.indicator]},
                "components": [],
                "incidents": [dict(i) for i in self.incidents],
                "scheduled_maintenances": [],
            }

    # -- stats -----------------------------------------------------------------------------------

    def _stats_for(self, first: date, last: date) -> dict[str, dict[str, int]]:
        if self.dsn is None:
            return self.stats
        import psycopg

        with psycopg.connect(self.dsn, connect_timeout=5) as conn:
            stats = stats_from_database(conn, first, last)
        if self.plant:
            day = (datetime.now(UTC).date() - timedelta(days=PLANTED_DAYS_BEFORE)).isoformat()
            if day in stats:
                self.planted = {"day": day, "metric": "delivered", "added": plant_discrepancy(stats, day)}
        return stats

    def _stats(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        try:
            first = date.fromisoformat(query.get("start_date", [""])[0])
        except ValueError:
            return 400, {"errors": [{"field": "start_date", "message": "is required and must be YYYY-MM-DD"}]}
        try:
            last = (
                date.fromisoformat(query["end_date"][0]) if "end_date" in query else datetime.now(UTC).date()
            )
        except ValueError:
            return 400, {"errors": [{"field": "end_date", "message": "must be YYYY-MM-DD"}]}
        if last < first:
            return 400, {"errors": [{"field": "end_date", "message": "end_date must be after start_date"}]}
        if query.get("aggregated_by", ["day"])[0] != "day":
            return 400, {"errors": [{"field": "aggregated_by", "message": "only day is served here"}]}
        stats = self._stats_for(first, last)
        days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
        return 200, [{"date": d, "stats": [{"metrics": dict(stats.get(d) or metrics())}]} for d in days]

    # -- request handling --------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers) -> tuple[int, str]:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query)
        with self.lock:
            self.calls.append((method, path))
            self.queries.append(query)
            self.headers.append(dict(headers.items()))
        if path == "/healthz":
            return 200, json.dumps({"status": "ok"})
        if path == "/_incident" and method == "POST":
            if query.get("name"):
                self.open_incident(query["name"][0], query.get("impact", ["major"])[0])
            else:
                self.clear_incidents()
            return 200, json.dumps(self.summary()["status"])
        if self.delay_s:
            time.sleep(self.delay_s)
        failure = self.take_failure()
        if failure is not None:
            return failure, json.dumps(
                {"errors": [{"field": None, "message": f"injected failure {failure}"}]}
            )
        if path.startswith("/api/v2/"):
            if self.status_body is not None:
                return 200, self.status_body
            summary = self.summary()
            pages = {
                "/api/v2/summary.json": summary,
                "/api/v2/status.json": {"page": summary["page"], "status": summary["status"]},
                "/api/v2/incidents/unresolved.json": {
                    "page": summary["page"],
                    "incidents": summary["incidents"],
                },
            }
            return (
                (200, json.dumps(pages[path])) if path in pages else (404, json.dumps({"error": "Not found"}))
            )
        if path == "/v3/stats" and method == "GET":
            if headers.get("Authorization") != f"Bearer {self.api_key}":
                return 401, json.dumps({"errors": [{"field": None, "message": "authorization required"}]})
            if self.stats_body is not None:
                return 200, self.stats_body
            status, body = self._stats(query)
            return status, json.dumps(body)
        return 404, json.dumps({"errors": [{"field": None, "message": "not found"}]})


def _make_handler(fake: FakeSendGrid) -> type[QuietHandler]:
    class Handler(QuietHandler):
        server_version = "nurture-fake-sendgrid/1"

        def _answer(self, method: str) -> None:
            self.read_body()
            status, body = fake.handle(method, self.path, self.headers)
            self.reply(status, body, "application/json")
            if not fake.quiet:
                print(f"fake sendgrid {method} {self.path} -> {status}", flush=True)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = cli_parser(
        "python -m dev.fake_sendgrid", __doc__, DEFAULT_PORT, "do not print a line per request"
    )
    parser.add_argument("--api-key", default=DEV_API_KEY)
    parser.add_argument("--dsn", help="count the stats from this lead-nurture database")
    parser.add_argument("--plant", action="store_true", help="plant the demo's discrepancy (needs --dsn)")
    parser.add_argument("--incident", help="open a major incident with this name on the status page")
    args = parser.parse_args(argv)
    fake = FakeSendGrid(
        port=args.port, api_key=args.api_key, dsn=args.dsn, plant=args.plant, quiet=args.quiet
    )
    if args.incident:
        fake.open_incident(args.incident)
    return serve_until_signalled(
        fake,
        "fake sendgrid",
        args.pidfile,
        lambda: [
            f"fake sendgrid listening on {fake.url}/v3/stats and {fake.url}/api/v2/summary.json",
            f"  AIRFLOW_CONN_SENDGRID_API='{fake.connection_json()}'",
            f"  AIRFLOW_CONN_SENDGRID_STATUS='{fake.status_connection_json()}'",
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
