"""`make bench`: the Lead Nurture page's endpoints on the capacity dataset (median and p95, ms).

Each endpoint is timed as its handler runs it (nurture_ops.ops_page.app): the queries on one
connection, the charts and, for the page, the HTML rendering; authentication and HTTP are not in the
figures. The bench database (dev/bench.py) has a year of campaign_analytics; the nurture_ops tables
get a year of operator history here (alert states per organization scope, silences, actions,
remediation audit rows). Target (issue 11): every endpoint <= 150 ms at one year of data.

    .venv/bin/python -m dev.bench_ops_page --dbname nurture_bench   # a kept bench database
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dev import pg

TARGET_MS = 150.0
RUNS = 20

HISTORY_SQL = """
INSERT INTO nurture_ops.alert_state (alert_key, scope, firing, severity, status, first_fired_at,
    last_evaluated_at, last_value, last_summary, notified_state, last_notified_at, last_evaluated_run)
SELECT k.key, o.id::text, (row_number() OVER ()) %% 7 = 0, 'warning', 'warning', %(at)s - interval '3 hours',
    %(at)s - interval '5 minutes', '{}'::jsonb, 'bench', 'firing', %(at)s - interval '3 hours',
    'nurture_daily_health/scheduled__bench'
FROM unnest(%(keys)s::text[]) AS k(key) CROSS JOIN organizations AS o
ON CONFLICT DO NOTHING;
INSERT INTO nurture_ops.alert_silences (alert_key, scope, starts_at, ends_at, reason, created_by)
SELECT 'high_bounce_rate', NULL, %(at)s - g * interval '2 hours', %(at)s - g * interval '2 hours' + interval '1 hour',
    'bench', 'ops'
FROM generate_series(0, 4379) AS g;
INSERT INTO nurture_ops.alert_actions (alert_key, scope, action, actor, reason, acted_at)
SELECT 'high_bounce_rate', '', 'silence', 'ops', 'bench', %(at)s - g * interval '1 hour'
FROM generate_series(1, 8760) AS g;
INSERT INTO nurture_ops.remediation_audit (remediation_key, alert_key, mode, outcome, rows_counted,
    rows_changed, reason, evaluated_at, recorded_at)
SELECT 'invalidate_hard_bounce_leads', 'high_bounce_rate', 'apply', 'applied', 10, 10, 'bench',
    %(at)s - g * interval '1 hour', %(at)s - g * interval '1 hour'
FROM generate_series(1, 8760) AS g;
ANALYZE nurture_ops.alert_state;
ANALYZE nurture_ops.alert_silences;
ANALYZE nurture_ops.alert_actions;
ANALYZE nurture_ops.remediation_audit;
"""


def seed_history(conn, at: datetime) -> None:
    """A year of operator history in nurture_ops (once per database)."""
    from nurture_ops.alerting import state
    from nurture_ops.core.catalog import CHECKS

    state.ensure_schema(conn)
    if conn.execute("SELECT EXISTS (SELECT 1 FROM nurture_ops.alert_actions)").fetchone()["exists"]:
        return
    with conn.transaction():
        for statement in filter(str.strip, HISTORY_SQL.split(";\n")):
            params = {"at": at, "keys": list(CHECKS)} if "%(" in statement else None
            conn.execute(statement, params)


def endpoints(today: date, at: datetime, conn) -> dict[str, Any]:
    """endpoint -> a callable(conn) doing what its handler does."""
    from nurture_ops.core.catalog import get_check
    from nurture_ops.ops_page import app, queries

    thresholds = get_check("kpi_review").thresholds
    org = conn.execute("SELECT organization_id, campaign_id FROM campaign_analytics LIMIT 1").fetchone()
    one_org = queries.Scope(organization_id=str(org["organization_id"]))
    one_campaign = queries.Scope(campaign_id=org["campaign_id"])

    def page(c) -> str:
        context = app.page_context(c, thresholds, today=today, days=30, scope=queries.Scope(), at=at)
        return app.render_page(
            context, root="", user="bench", may_act={}, csrf_token="", warning=None, done=None
        )

    return {
        "GET /": page,
        "GET /api/status": queries.status,
        "GET /api/kpis": lambda c: queries.kpis(c, thresholds, today=today),
        "GET /api/kpis?organization_id": lambda c: queries.kpis(c, thresholds, today=today, scope=one_org),
        "GET /api/kpis?campaign_id": lambda c: queries.kpis(c, thresholds, today=today, scope=one_campaign),
        "GET /api/alerts": lambda c: queries.alert_board(c, at=at),
        "GET /api/trends?days=30": lambda c: queries.trends(c, thresholds, today=today, days=30),
        "GET /api/trends?days=90": lambda c: queries.trends(c, thresholds, today=today, days=90),
        "GET /api/trends?days=90&organization_id": lambda c: queries.trends(
            c, thresholds, today=today, days=90, scope=one_org
        ),
        "GET /api/organizations?days=90": lambda c: queries.organizations(c, today=today, days=90),
        "GET /api/remediations": queries.remediation_audit,
        "GET /api/actions": queries.operator_actions,
    }


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run(dbname: str, end: datetime, runs: int = RUNS) -> dict[str, dict]:
    """Time every endpoint `runs` times (after one warm-up); prints a table, returns the figures."""
    today = end.date()
    results: dict[str, dict] = {}
    with psycopg.connect(pg.dsn(dbname), autocommit=True, row_factory=dict_row) as conn:
        seed_history(conn, end)
        calls = endpoints(today, end, conn)
        for name, call in calls.items():
            call(conn)  # warm-up: plans, caches
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                call(conn)
                timings.append((time.perf_counter() - started) * 1000)
            results[name] = {
                "median_ms": round(statistics.median(timings), 2),
                "p95_ms": round(p95(timings), 2),
                "runs": runs,
                "over_target": p95(timings) > TARGET_MS,
            }
    print(f"\nLead Nurture page endpoints ({runs} runs each; target p95 <= {TARGET_MS:.0f} ms)")
    print(f"  {'endpoint':<42}{'median ms':>10}{'p95 ms':>10}")
    for name, r in results.items():
        flag = "  OVER TARGET" if r["over_target"] else ""
        print(f"  {name:<42}{r['median_ms']:>10.1f}{r['p95_ms']:>10.1f}{flag}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dev.bench_ops_page", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--dbname", default="nurture_bench")
    parser.add_argument("--end", type=datetime.fromisoformat, default=None, help="the bench's run time")
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args(argv)
    end = args.end or datetime.now(UTC).replace(hour=7, minute=0, second=0, microsecond=0)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    results = run(args.dbname, end, args.runs)
    return 1 if any(r["over_target"] for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
