"""The weekly review functions against the real PostgreSQL, with exact numbers from inserted rows."""

from __future__ import annotations

import uuid

import psycopg

from nurture_ops.core.catalog import SCHEDULER
from nurture_ops.weekly_review.logic import (
    HOW_TO_ENABLE_PG_STAT_STATEMENTS,
    SCHEDULER_ADVICE,
    SENDER_ADVICE,
    pg_stat_statements_unavailable,
    scheduler_performance,
    sender_performance,
    slow_queries,
    unsubscribe_feedback,
)
from tests.builders import utc

WEEK = {"week_start": utc("2026-11-02 00:00"), "week_end": utc("2026-11-09 00:00")}


# -- Query Performance Review ---------------------------------------------------------------------


def test_slow_queries_without_the_extension_says_how_to_enable_it(db):
    result = slow_queries(db)

    assert result == {
        "available": False,
        "reason": "the pg_stat_statements extension is not created in this database",
        "how_to_enable": HOW_TO_ENABLE_PG_STAT_STATEMENTS,
    }
    assert "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" in result["how_to_enable"]


def test_not_preloaded_is_reported_before_anything_else():
    extension = {"extension_schema": "public", "has_exec_time_columns": True, "view_visible": True}

    result = pg_stat_statements_unavailable(extension, "auto_explain, pg_cron")

    assert result["available"] is False
    assert result["reason"].startswith("pg_stat_statements is not in shared_preload_libraries")
    assert "'auto_explain, pg_cron'" in result["reason"]
    assert pg_stat_statements_unavailable(extension, '"pg_stat_statements",auto_explain') is None
    assert pg_stat_statements_unavailable(extension, None) is None  # unreadable: try it


def _run(conn, sql: str, times: int) -> None:
    for _ in range(times):
        conn.execute(sql)


def test_slow_queries_lists_and_flags_statements_on_the_runbook_tables(db):
    db.execute("CREATE EXTENSION pg_stat_statements")
    tag = uuid.uuid4().hex[:10]
    fast = f"SELECT COUNT(*) AS fast_{tag} FROM email_sends"
    slow = f"SELECT PG_SLEEP(0.06), COUNT(*) AS slow_{tag} FROM email_events"
    unrelated = f"SELECT 1 AS unrelated_{tag}"
    _run(db, fast, 3)
    _run(db, slow, 2)
    _run(db, unrelated, 4)

    result = slow_queries(db, limit=50, slow_ms=50)

    assert result["available"] is True
    assert result["time_columns"] == "mean_exec_time/max_exec_time"  # PostgreSQL 13+
    mine = {q["query"].split(" AS ")[1].split("_")[0]: q for q in result["queries"] if tag in q["query"]}
    assert set(mine) == {"fast", "slow"}  # the unrelated statement touches no runbook table
    assert mine["fast"]["query"] == fast
    assert (
        mine["slow"]["query"] == f"SELECT PG_SLEEP($1), COUNT(*) AS slow_{tag} FROM email_events"
    )  # normalised
    assert mine["fast"]["calls"] == 3 and mine["fast"]["slow"] is False
    assert mine["slow"]["calls"] == 2 and mine["slow"]["slow"] is True
    assert mine["slow"]["mean_ms"] >= 60 and mine["slow"]["max_ms"] >= 60
    assert mine["fast"]["rows"] == 3 and mine["slow"]["rows"] == 2
    queries = result["queries"]
    assert [q["mean_ms"] for q in queries] == sorted((q["mean_ms"] for q in queries), reverse=True)
    assert result["slow_count"] == sum(1 for q in queries if q["mean_ms"] > 50) >= 1
    assert result["advice"] == ["If queries are slow, add indexes or optimize WHERE clauses"]
    assert result["scaling"]["trigger"] == "Query response time > 500ms consistently"
    assert "Add read replicas for reporting" in result["scaling"]["actions"]


def test_slow_queries_finds_the_view_outside_the_search_path(db):
    db.execute("CREATE SCHEMA extensions")
    db.execute("CREATE EXTENSION pg_stat_statements SCHEMA extensions")
    tag = uuid.uuid4().hex[:10]
    _run(db, f"SELECT COUNT(*) AS probe_{tag} FROM lead_campaign_enrollments", 2)
    path_before = db.execute("SHOW search_path").fetchone()[0]

    result = slow_queries(db, limit=100)

    probe = [q for q in result["queries"] if tag in q["query"]]
    assert [q["calls"] for q in probe] == [2]
    assert result["slow_count"] == 0 and "advice" not in result
    assert db.execute("SHOW search_path").fetchone()[0] == path_before


def test_slow_queries_inside_a_caller_transaction_keeps_it_usable(leads_db):
    with psycopg.connect(leads_db) as conn:  # not autocommit: the caller's transaction
        result = slow_queries(conn)
        assert result["available"] is False
        assert conn.execute("SELECT COUNT(*) FROM email_sends").fetchone() == (0,)


# -- Scheduler Performance ------------------------------------------------------------------------


def test_scheduler_performance_per_minute(rows):
    run = SCHEDULER
    rows.execution(run, at=utc("2026-11-01 23:59:59"), items=1000, duration_ms=60000)  # before
    rows.execution(run, at=utc("2026-11-02 00:00:00"), items=1000, duration_ms=2000)  # load 0.2
    rows.execution(run, at=utc("2026-11-04 10:00:05"), items=1000, duration_ms=8000)  # 0.8
    rows.execution(run, at=utc("2026-11-04 10:01:05"), items=500, duration_ms=12000)  # 1.2: > 10 s batch
    rows.execution(run, at=utc("2026-11-04 10:02:05"), items=3000, duration_ms=27000)  # 0.9: 9 s/1000
    rows.execution(run, at=utc("2026-11-04 10:03:05"), items=3000, duration_ms=33000)  # 1.1: 11 s/1000
    rows.execution(run, at=utc("2026-11-04 10:04:05"), items=200, duration_ms=6000)  # two runs: 13 s
    rows.execution(run, at=utc("2026-11-04 10:04:35"), items=300, duration_ms=7000)  # of 20 s: 0.65
    rows.execution(run, at=utc("2026-11-04 10:05:05"), items=0, duration_ms=500)  # nothing due: 0.05
    rows.execution(run, at=utc("2026-11-04 10:06:05"), items=100, duration_ms=None)  # unmeasured
    rows.execution("Lead Nurture - Email Sender", at=utc("2026-11-04 10:07:00"), items=10, duration_ms=99000)
    rows.execution(run, at=utc("2026-11-09 00:00:00"), items=1000, duration_ms=90000)  # at week_end: out

    result = scheduler_performance(rows.conn, **WEEK)

    assert result["runs"] == 9
    assert result["unmeasured_runs"] == 1
    assert result["minutes_measured"] == 7
    assert result["minutes_missing_target"] == 2
    assert result["enrollments_processed"] == 9000
    assert result["total_duration_seconds"] == 95.5
    assert result["seconds_per_1000"] == round(95.5 * 1000 / 9000, 3)
    assert [(m["minute"], m["load"], m["misses_target"]) for m in result["worst_minutes"]] == [
        ("2026-11-04T10:01:00+00:00", 1.2, True),
        ("2026-11-04T10:03:00+00:00", 1.1, True),
        ("2026-11-04T10:02:00+00:00", 0.9, False),
        ("2026-11-04T10:00:00+00:00", 0.8, False),
        ("2026-11-04T10:04:00+00:00", 0.65, False),
    ]
    minute_0403 = result["worst_minutes"][1]
    assert minute_0403 == {
        "minute": "2026-11-04T10:03:00+00:00",
        "executions": 1,
        "enrollments_processed": 3000,
        "duration_seconds": 33.0,
        "longest_run_seconds": 33.0,
        "seconds_per_1000": 11.0,
        "allowed_seconds": 30.0,
        "load": 1.1,
        "misses_target": True,
    }
    two_runs = result["worst_minutes"][4]
    assert (two_runs["executions"], two_runs["duration_seconds"], two_runs["allowed_seconds"]) == (
        2,
        13.0,
        20.0,
    )
    assert result["advice"] == list(SCHEDULER_ADVICE)

    rows.conn.execute("SET TIME ZONE 'Asia/Kolkata'")  # +05:30: the same minutes, reported in UTC
    assert scheduler_performance(rows.conn, **WEEK) == result


def test_scheduler_performance_of_an_empty_week(rows):
    result = scheduler_performance(rows.conn, **WEEK, batch_target_seconds=5)

    assert (result["runs"], result["minutes_measured"], result["minutes_missing_target"]) == (0, 0, 0)
    assert result["worst_minutes"] == [] and result["seconds_per_1000"] is None
    assert result["target"] == {"enrollments": 1000, "seconds": 5}
    assert "advice" not in result


# -- Sender Performance ---------------------------------------------------------------------------


def test_sender_performance_judges_only_minutes_with_a_backlog(rows):
    org = rows.org()
    camp = rows.campaign(org)
    made = utc("2026-11-04 11:00:00")

    def send(due, status="sent", sent=None, **kw):
        return rows.send(
            org, camp, due=utc(due), status=status, sent_at=sent and utc(sent), created_at=made, **kw
        )

    for _ in range(5):  # A: 8 due before the window, 5 sent in 12:00, 3 in 12:01
        send("2026-11-04 11:59:30", sent="2026-11-04 12:00:20")
    for _ in range(3):
        send("2026-11-04 11:59:30", sent="2026-11-04 12:01:10")
    for _ in range(2):  # B: due 12:02:30, sent 12:03:10 -> waiting at 12:03 only
        send("2026-11-04 12:02:30", sent="2026-11-04 12:03:10")
    send("2026-11-04 12:04:10", sent="2026-11-04 12:04:40")  # C: sent before any minute start
    for _ in range(3):  # D: due 12:04:30, still queued -> waiting at 12:05
        send("2026-11-04 12:04:30", status="queued")
    send("2026-11-04 11:50:00", status="failed", updated_at=utc("2026-11-04 12:01:30"))  # E: failed
    send("2026-11-04 11:30:00", sent="2026-11-04 11:31:00")  # F: done before the window
    send("2026-11-04 11:59:00", status="bounced", sent="2026-11-04 12:00:50")  # G: not 'sent'
    send("2026-11-04 12:05:10", sent="2026-11-04 12:07:00")  # H: due after the last minute start

    result = sender_performance(
        rows.conn, week_start=utc("2026-11-04 12:00"), week_end=utc("2026-11-04 12:06"), per_minute_target=5
    )

    # minute start: backlog -> expected, sent
    # 12:00: A8 + E + G = 10 -> 5, 5 | 12:01: A3 + E = 4 -> 4, 3 (miss 1) | 12:02: 0 (not judged)
    # 12:03: B2 -> 2, 2 | 12:04: 0 (C sent, not judged) | 12:05: D3 -> 3, 0 (miss 3)
    assert {k: v for k, v in result.items() if k not in ("worst_minutes", "rule", "advice")} == {
        "week_start": "2026-11-04T12:00:00+00:00",
        "week_end": "2026-11-04T12:06:00+00:00",
        "target_per_minute": 5,
        "minutes_in_window": 6,
        "minutes_with_sends": 4,
        "minutes_judged": 4,
        "minutes_missing_target": 2,
        "emails_sent": 11,
        "peak_sent_per_minute": 5,
        "peak_backlog": 10,
    }
    assert result["worst_minutes"] == [
        {
            "minute": "2026-11-04T12:05:00+00:00",
            "sent": 0,
            "backlog_at_start": 3,
            "expected": 3,
            "shortfall": 3,
        },
        {
            "minute": "2026-11-04T12:01:00+00:00",
            "sent": 3,
            "backlog_at_start": 4,
            "expected": 4,
            "shortfall": 1,
        },
        {
            "minute": "2026-11-04T12:00:00+00:00",
            "sent": 5,
            "backlog_at_start": 10,
            "expected": 5,
            "shortfall": 0,
        },
        {
            "minute": "2026-11-04T12:03:00+00:00",
            "sent": 2,
            "backlog_at_start": 2,
            "expected": 2,
            "shortfall": 0,
        },
    ]
    assert result["advice"] == list(SENDER_ADVICE)

    rows.conn.execute("SET TIME ZONE 'America/St_Johns'")  # -03:30: same minutes, same answer
    window = {"week_start": utc("2026-11-04 12:00"), "week_end": utc("2026-11-04 12:06")}
    assert sender_performance(rows.conn, **window, per_minute_target=5) == result


def test_sender_performance_quiet_week_misses_nothing(rows):
    org = rows.org()
    camp = rows.campaign(org)
    rows.send(org, camp, due=utc("2026-11-03 09:00:10"), sent_at=utc("2026-11-03 09:00:40"))

    result = sender_performance(rows.conn, **WEEK)

    assert result["minutes_in_window"] == 7 * 24 * 60
    assert (result["minutes_with_sends"], result["minutes_judged"], result["minutes_missing_target"]) == (
        1,
        0,
        0,
    )
    assert result["emails_sent"] == 1 and result["worst_minutes"] == []
    assert "advice" not in result


# -- Review unsubscribe feedback ------------------------------------------------------------------


def test_unsubscribe_feedback_per_campaign_with_reasons(rows):
    org = rows.org()
    welcome = rows.campaign(org, "Welcome series")
    webinar = rows.campaign(org, "Webinar follow-up")
    inside, before = utc("2026-11-03 10:00"), utc("2026-10-30 10:00")

    s = [rows.send(org, welcome, due=inside, sent_at=inside) for _ in range(6)]
    rows.send(org, welcome, due=before, sent_at=before)  # sent before the week: not in emails_sent
    rows.event(s[0], "unsubscribe", at=utc("2026-11-03 11:00"), payload={"reason": "Too many emails"})
    rows.event(s[0], "unsubscribe", at=utc("2026-11-03 11:00"), payload={"reason": "Too many emails"})  # dup
    rows.event(s[1], "unsubscribe", at=utc("2026-11-04 08:00"), payload={"reason": " Too many emails "})
    rows.event(s[2], "unsubscribe", at=utc("2026-11-05 08:00"))
    rows.event(
        s[3], "group_unsubscribe", at=utc("2026-11-06 08:00"), payload={"unsubscribe_reason": "Not relevant"}
    )
    rows.event(s[4], "open", at=utc("2026-11-03 12:00"))

    w = [rows.send(org, webinar, due=inside, sent_at=inside) for _ in range(2)]
    early = rows.send(org, webinar, due=before, sent_at=before)
    rows.event(w[0], "unsubscribe", at=utc("2026-11-08 23:59:59"), payload={"feedback": "Moved jobs"})
    rows.event(w[1], "unsubscribe", at=utc("2026-11-09 00:00:00"))  # at week_end: next week
    rows.event(early, "unsubscribe", at=utc("2026-11-01 23:00"))  # before the week

    result = unsubscribe_feedback(rows.conn, **WEEK)

    assert result == {
        "week_start": "2026-11-02T00:00:00+00:00",
        "week_end": "2026-11-09T00:00:00+00:00",
        "unsubscribes": 4,
        "group_unsubscribes": 1,
        "campaigns": [
            {
                "campaign_id": welcome,
                "campaign_name": "Welcome series",
                "unsubscribes": 3,
                "group_unsubscribes": 1,
                "leads": 4,
                "emails_sent": 6,
                "unsubscribe_rate": 50.0,
                "reasons": [
                    {"reason": "Too many emails", "count": 2},
                    {"reason": "Not relevant", "count": 1},
                    {"reason": "(no reason given)", "count": 1},
                ],
                "more_reasons": 0,
            },
            {
                "campaign_id": webinar,
                "campaign_name": "Webinar follow-up",
                "unsubscribes": 1,
                "group_unsubscribes": 0,
                "leads": 1,
                "emails_sent": 2,
                "unsubscribe_rate": 50.0,
                "reasons": [{"reason": "Moved jobs", "count": 1}],
                "more_reasons": 0,
            },
        ],
    }
