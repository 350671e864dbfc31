"""The weekly review (runbook 4 "Performance Optimization" and 7 "Maintenance Schedule / Weekly").

- slow_queries: "Query Performance Review (Weekly)" from pg_stat_statements
- scheduler_performance: "Scheduler Performance", 1,000 enrollments in < 10 seconds
- sender_performance: "Sender Performance", 100 emails per minute
- unsubscribe_feedback: "Review unsubscribe feedback"

Each takes a psycopg connection and the window from the caller (half-open, [week_start,
week_end)) and returns a small JSON-friendly dict (datetimes as ISO strings) for XCom.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import psycopg

from nurture_ops.core import db
from nurture_ops.core.catalog import SCALING_GUIDELINES, SCHEDULER
from nurture_ops.core.windows import as_utc

# The runbook's tables (the schema contract): the statements worth reviewing touch these.
RUNBOOK_TABLES = (
    "email_sends",
    "email_events",
    "lead_campaign_enrollments",
    "leads",
    "lead_preferences",
    "nurture_campaigns",
    "campaign_analytics",
    "organizations",
    "workflow_executions",
    "workflow_errors",
)


SLOW_QUERY_ADVICE = "If queries are slow, add indexes or optimize WHERE clauses"


QUERY_TEXT_MAX = 500


SCHEDULER_ADVICE = (
    "Increase batch size",
    "Add database read replicas",
    "Optimize personalization queries",
)


SENDER_ADVICE = (
    "Check SendGrid rate limits",
    "Increase N8N_MAX_EMAILS_PER_MINUTE",
    "Optimize tracking pixel/link generation",
)


WORST_MINUTES = 5


REASONS_PER_CAMPAIGN = 10


REASON_TEXT_MAX = 200


NO_REASON = "(no reason given)"


HOW_TO_ENABLE_PG_STAT_STATEMENTS = (
    "1. Add pg_stat_statements to shared_preload_libraries (postgresql.conf, or the provider's "
    "settings; Supabase preloads it) and restart PostgreSQL. "
    "2. In the lead-nurture database, as a superuser: CREATE EXTENSION IF NOT EXISTS "
    "pg_stat_statements; (on Supabase: Database > Extensions > pg_stat_statements). "
    "3. The connection's role needs pg_read_all_stats to see other roles' statements."
)


def _iso(value: datetime) -> str:
    """UTC ISO-8601, whatever the session's TimeZone."""
    return value.astimezone(UTC).isoformat()


def _rounded(value: Any, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def _window(week_start: datetime | date, week_end: datetime | date) -> dict[str, datetime]:
    start, end = as_utc(week_start), as_utc(week_end)
    if end <= start:
        raise ValueError(f"week_end ({end.isoformat()}) must be after week_start ({start.isoformat()})")
    return {"week_start": start, "week_end": end}


def _iso_window(params: dict[str, Any]) -> dict[str, str]:
    return {"week_start": _iso(params["week_start"]), "week_end": _iso(params["week_end"])}


def _per_minute(
    conn: psycopg.Connection,
    sql_file: str,
    params: dict[str, Any],
    *,
    summary: Callable[[dict], dict[str, Any]],
    minute: Callable[[dict], dict[str, Any]],
    advice: tuple[str, ...],
) -> dict[str, Any]:
    """A per-minute measure of the window. Its SQL returns the window's totals first (minute NULL),
    then the worst WORST_MINUTES minutes; the result is `summary(totals)`, then "worst_minutes"
    (each minute in UTC ISO, then `minute(row)`), then `advice` when a minute missed the target."""
    rows = db.fetch_all(conn, sql_file, {**params, "worst_limit": WORST_MINUTES})
    total = rows[0]
    result = {
        **summary(total),
        "worst_minutes": [
            {"minute": _iso(row["minute"]), **minute(row)} for row in rows if row["minute"] is not None
        ],
    }
    if total["minutes_missing_target"]:
        result["advice"] = list(advice)
    return result


def _savepoint_fetch(conn: psycopg.Connection, sql_file: str, params: dict | None = None) -> list[dict]:
    """fetch_all inside a savepoint, so a failure leaves the caller's transaction usable."""
    with conn.transaction():
        return db.fetch_all(conn, sql_file, params)


def pg_stat_statements_unavailable(
    extension: dict | None, preload_libraries: str | None
) -> dict[str, Any] | None:
    """Why the statistics cannot be read (None when they can, as far as the catalog tells).

    preload_libraries is the shared_preload_libraries setting, or None when it is unreadable
    (it needs superuser or pg_read_all_settings; then the query itself decides).
    """
    if preload_libraries is not None:
        loaded = [lib.strip().strip('"').lower() for lib in preload_libraries.split(",")]
        if "pg_stat_statements" not in loaded:
            return {
                "available": False,
                "reason": "pg_stat_statements is not in shared_preload_libraries "
                f"(currently {preload_libraries!r}), so PostgreSQL collects no statement statistics",
                "how_to_enable": HOW_TO_ENABLE_PG_STAT_STATEMENTS,
            }
    if extension is None:
        return {
            "available": False,
            "reason": "the pg_stat_statements extension is not created in this database",
            "how_to_enable": HOW_TO_ENABLE_PG_STAT_STATEMENTS,
        }
    return None


def slow_queries(conn: psycopg.Connection, *, limit: int = 10, slow_ms: float = 500) -> dict[str, Any]:
    """The slowest statements (by mean) touching the runbook's tables, from pg_stat_statements.

    Flags those whose mean execution time exceeds slow_ms (the runbook's "Query response time >
    500ms consistently" trigger for scaling the database; mean, not max, is "consistently"), and
    those whose max alone does (occasional spikes). Returns {"available": False, "reason",
    "how_to_enable"} when the extension is not usable instead of failing.
    """
    extension = db.fetch_one(conn, "review/check_pg_stat_statements.sql", {})
    try:
        preload = _savepoint_fetch(conn, "review/show_shared_preload_libraries.sql")[0]
        preload_libraries = preload["shared_preload_libraries"]
    except psycopg.errors.InsufficientPrivilege:
        preload_libraries = None
    unavailable = pg_stat_statements_unavailable(extension, preload_libraries)
    if unavailable:
        return unavailable

    legacy = not extension["has_exec_time_columns"]
    columns = {
        "mean_column": "mean_time" if legacy else "mean_exec_time",
        "max_column": "max_time" if legacy else "max_exec_time",
        "total_column": "total_time" if legacy else "total_exec_time",
    }
    params = {
        **columns,
        "tables_pattern": r"\m(" + "|".join(RUNBOOK_TABLES) + r")\M",
        "limit": int(limit),
    }
    try:
        with conn.transaction():
            restore = None
            if not extension["view_visible"]:
                restore = db.fetch_one(
                    conn, "review/prepend_search_path.sql", {"schema_name": extension["extension_schema"]}
                )
            rows = db.fetch_all(conn, "review/find_slow_queries.sql", params)
            if restore is not None:
                db.fetch_one(
                    conn, "review/restore_search_path.sql", {"search_path": restore["previous_search_path"]}
                )
    except (psycopg.errors.ObjectNotInPrerequisiteState, psycopg.errors.InsufficientPrivilege) as exc:
        # 55000: "pg_stat_statements must be loaded via shared_preload_libraries"
        return {
            "available": False,
            "reason": f"pg_stat_statements cannot be read: {str(exc).strip().splitlines()[0]}",
            "how_to_enable": HOW_TO_ENABLE_PG_STAT_STATEMENTS,
        }

    queries = []
    for row in rows:
        mean_ms, max_ms = float(row["mean_ms"] or 0), float(row["max_ms"] or 0)
        text = re.sub(r"\s+", " ", row["query"] or "").strip()
        queries.append(
            {
                "queryid": row["queryid"],
                "query": text[:QUERY_TEXT_MAX] + ("..." if len(text) > QUERY_TEXT_MAX else ""),
                "calls": row["calls"],
                "rows": row["rows"],
                "mean_ms": round(mean_ms, 3),
                "max_ms": round(max_ms, 3),
                "total_ms": _rounded(row["total_ms"]),
                "slow": mean_ms > slow_ms,
                "spikes_over_slow_ms": max_ms > slow_ms and mean_ms <= slow_ms,
            }
        )
    slow = [q for q in queries if q["slow"]]
    result: dict[str, Any] = {
        "available": True,
        "extension_version": extension["extension_version"],
        "server_version_num": extension["server_version_num"],
        "time_columns": f"{columns['mean_column']}/{columns['max_column']}",
        "slow_ms": slow_ms,
        "queries": queries,
        "slow_count": len(slow),
        "spiky_count": sum(1 for q in queries if q["spikes_over_slow_ms"]),
        "insufficient_privilege": sum(1 for q in queries if q["query"] == "<insufficient privilege>"),
    }
    if slow:
        database = SCALING_GUIDELINES["database"]
        result["advice"] = [SLOW_QUERY_ADVICE]
        result["scaling"] = {
            "section": database["section"],
            "trigger": database["trigger"],
            "actions": list(database["actions"]),
        }
    return result


def scheduler_performance(
    conn: psycopg.Connection,
    *,
    week_start: datetime | date,
    week_end: datetime | date,
    batch_target_seconds: float = 10,
    workflow_name: str = SCHEDULER,
) -> dict[str, Any]:
    """Per minute of the window, the Message Scheduler's runs against "1000 enrollments in < 10 s".

    Measured from workflow_executions (items_processed = enrollments, duration_ms = run time):
    seconds per 1,000 enrollments = duration_ms / items_processed; each run may take the target
    for up to 1,000 enrollments and proportionally more for bigger batches (see the SQL file's
    header). Returns the counts, the minutes missing the target and the worst 5 minutes by load
    (duration / allowed).
    """
    window = _window(week_start, week_end)
    return _per_minute(
        conn,
        "review/measure_scheduler_processing_time.sql",
        {**window, "workflow_name": workflow_name, "target_seconds": batch_target_seconds},
        summary=lambda total: {
            "workflow": workflow_name,
            **_iso_window(window),
            "target": {"enrollments": 1000, "seconds": batch_target_seconds},
            "measure": "seconds per 1,000 enrollments = duration_ms / items_processed of each run; "
            "a run may take the target for up to 1,000 enrollments, proportionally more for bigger "
            "batches",
            "runs": total["runs"],
            "unmeasured_runs": total["unmeasured_runs"],
            "minutes_measured": total["minutes_measured"],
            "minutes_missing_target": total["minutes_missing_target"],
            "enrollments_processed": int(total["enrollments_processed"]),
            "total_duration_seconds": _rounded(total["total_duration_seconds"]),
            "seconds_per_1000": _rounded(total["overall_seconds_per_1000"]),
        },
        minute=lambda row: {
            "executions": row["executions"],
            "enrollments_processed": int(row["minute_enrollments_processed"]),
            "duration_seconds": _rounded(row["minute_duration_seconds"]),
            "longest_run_seconds": _rounded(row["longest_run_seconds"]),
            "seconds_per_1000": _rounded(row["minute_seconds_per_1000"]),
            "allowed_seconds": _rounded(row["allowed_seconds"]),
            "load": _rounded(row["load"]),
            "misses_target": row["misses_target"],
        },
        advice=SCHEDULER_ADVICE,
    )


def sender_performance(
    conn: psycopg.Connection,
    *,
    week_start: datetime | date,
    week_end: datetime | date,
    per_minute_target: int = 100,
) -> dict[str, Any]:
    """Per minute of the window, emails sent against "Send 100 emails per minute".

    Only minutes with a backlog (emails due and not yet processed at the minute's start) are
    judged, against LEAST(target, backlog): a quiet minute is low demand, not a slow sender. See
    the SQL file's header for the exact rule. Returns the counts and the worst 5 judged minutes
    by shortfall.
    """
    window = _window(week_start, week_end)
    return _per_minute(
        conn,
        "review/measure_send_rate.sql",
        {**window, "per_minute_target": int(per_minute_target)},
        summary=lambda total: {
            **_iso_window(window),
            "target_per_minute": int(per_minute_target),
            "rule": "a minute is judged only when emails were waiting at its start (backlog > 0); it "
            "misses the target when fewer than LEAST(target, backlog) were sent in it",
            "minutes_in_window": total["minutes_in_window"],
            "minutes_with_sends": total["minutes_with_sends"],
            "minutes_judged": total["minutes_judged"],
            "minutes_missing_target": total["minutes_missing_target"],
            "emails_sent": int(total["emails_sent"]),
            "peak_sent_per_minute": int(total["peak_sent_per_minute"]),
            "peak_backlog": int(total["peak_backlog"] or 0),
        },
        minute=lambda row: {
            "sent": row["sent"],
            "backlog_at_start": int(row["backlog_at_start"]),
            "expected": int(row["expected"]),
            "shortfall": int(row["shortfall"]),
        },
        advice=SENDER_ADVICE,
    )


def unsubscribe_feedback(
    conn: psycopg.Connection, *, week_start: datetime | date, week_end: datetime | date
) -> dict[str, Any]:
    """Unsubscribe and group_unsubscribe events of the window per campaign, with their reasons."""
    params = _window(week_start, week_end)
    rows = db.fetch_all(conn, "review/review_unsubscribe_feedback.sql", params)
    campaigns = []
    for row in rows:
        reasons = [
            {
                "reason": (r["reason"] or NO_REASON)[:REASON_TEXT_MAX],
                "count": r["count"],
            }
            for r in (row["reasons"] or [])
        ]
        campaigns.append(
            {
                "campaign_id": row["campaign_id"],
                "campaign_name": row["campaign_name"],
                "unsubscribes": row["unsubscribes"],
                "group_unsubscribes": row["group_unsubscribes"],
                "leads": row["leads"],
                "emails_sent": row["emails_sent"],
                "unsubscribe_rate": _rounded(row["unsubscribe_rate"], 2),
                "reasons": reasons[:REASONS_PER_CAMPAIGN],
                "more_reasons": max(0, len(reasons) - REASONS_PER_CAMPAIGN),
            }
        )
    return {
        **_iso_window(params),
        "unsubscribes": sum(c["unsubscribes"] for c in campaigns),
        "group_unsubscribes": sum(c["group_unsubscribes"] for c in campaigns),
        "campaigns": campaigns,
    }
