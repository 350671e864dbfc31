"""dev/seed.py (demo data with the runbook's anomalies), dev/simulate.py (live traffic) and the
row builder both write with, dev/rows.py.

The anomaly tests ask the seeded database the runbook's detection questions, with half-open
windows on the raw timestamps relative to the seed's fixed `now`, and compare the answers with
the manifest seed() returned (numbers computed from the rows it wrote).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from dev import pg, rows
from dev import seed as seed_module
from dev.rows import IDENTITY_TABLES, TABLES, Builder
from dev.seed import ANALYTICS_UPDATER, EVENT_TRACKER, SCHEDULER, SENDER
from dev.simulate import Simulator

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 29, 14, 37, tzinfo=UTC)
TODAY = datetime(2026, 11, 29, tzinfo=UTC)
YESTERDAY = TODAY - timedelta(days=1)
DAY = {"start": YESTERDAY, "end": TODAY}


# --------------------------------------------------------------------------- helpers


def create_db(template: str, name: str) -> str:
    """A fresh database cloned from the schema template, the way tests/conftest.py's leads_db does."""
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        )
    return pg.dsn(name)


def drop_db(name: str) -> None:
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def table_hashes(dsn: str) -> dict[str, str]:
    """md5 of every table's rows (as text, sorted): equal hashes mean equal content."""
    with psycopg.connect(dsn) as conn:
        return {
            table: conn.execute(
                sql.SQL(
                    "SELECT MD5(COALESCE(STRING_AGG(t::text, E'\\n' ORDER BY t::text), '')) FROM {} AS t"
                ).format(sql.Identifier(table))
            ).fetchone()[0]
            for table in TABLES
        }


def run_cli(module: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def seeded(template_db):
    """One database seeded with seed=42 at NOW, shared (read-only) by this module's tests."""
    name = f"nurture_seed_{os.getpid()}"
    dsn = create_db(template_db, name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        manifest = seed_module.seed(conn, seed=42, now=NOW)
    yield dsn, manifest
    drop_db(name)


@pytest.fixture
def q(seeded):
    """Run a query on the seeded database: q(sql, **params) -> list of dict rows."""
    dsn, _ = seeded
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:

        def query(text: str, **params):
            return conn.execute(text, params).fetchall()

        yield query


@pytest.fixture
def manifest(seeded) -> dict:
    return seeded[1]


# --------------------------------------------------------------------------- determinism, CLI


def test_same_seed_and_now_give_identical_tables_and_the_cli_matches(seeded, leads_db):
    dsn, manifest = seeded
    result = run_cli("dev.seed", "--dsn", leads_db, "--seed", "42", "--now", "2026-11-29T14:37:00Z")
    assert result.returncode == 0, result.stderr
    assert "email_sends" in result.stdout
    assert table_hashes(leads_db) == table_hashes(dsn)
    with psycopg.connect(leads_db) as conn:
        counts = {
            t: conn.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
            for t in TABLES
        }
    assert counts == manifest["counts"]


def test_a_different_seed_gives_different_content(seeded, leads_db):
    with psycopg.connect(leads_db, autocommit=True) as conn:
        other = seed_module.seed(conn, seed=43, now=NOW)
    reference, other_hashes = table_hashes(seeded[0]), table_hashes(leads_db)
    for table in ("organizations", "leads", "email_sends", "email_events", "workflow_executions"):
        assert other_hashes[table] != reference[table], table
    # ... with the same planted anomalies.
    assert other["anomalies"]["stuck_queue"]["count"] == 25
    assert other["anomalies"]["overdue_enrollments"]["count"] == 30


def test_if_empty_leaves_a_seeded_database_alone(seeded):
    dsn, _ = seeded
    before = table_hashes(dsn)
    result = run_cli("dev.seed", "--dsn", dsn, "--if-empty", "--seed", "7")
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert table_hashes(dsn) == before
    with psycopg.connect(dsn) as conn, pytest.raises(RuntimeError, match="already holds data"):
        seed_module.seed(conn, seed=7, now=NOW)
    assert table_hashes(dsn) == before


def test_identity_sequences_continue_after_the_explicit_ids(q):
    for table in IDENTITY_TABLES:
        [row] = q(
            sql.SQL(
                "SELECT NEXTVAL(PG_GET_SERIAL_SEQUENCE(%(t)s, 'id')) AS next, (SELECT MAX(id) FROM {}) AS max"
            )
            .format(sql.Identifier(table))
            .as_string(),
            t=table,
        )
        assert row["next"] > row["max"], table


def test_manifest_counts_match_the_tables_and_the_baseline_is_realistic(q, manifest):
    for table, expected in manifest["counts"].items():
        assert q(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"] == expected, table
    assert manifest["counts"]["organizations"] == 4
    per_org = q("SELECT organization_id, COUNT(*) AS n FROM nurture_campaigns GROUP BY organization_id")
    assert sorted(r["n"] for r in per_org) in ([2, 2, 3, 3], [2, 3, 3, 3])
    assert 2800 <= manifest["counts"]["leads"] <= 3200
    assert manifest["counts"]["lead_preferences"] == manifest["counts"]["leads"]
    statuses = {
        r["status"]: r["n"]
        for r in q("SELECT status, COUNT(*) AS n FROM lead_campaign_enrollments GROUP BY 1")
    }
    assert statuses["active"] > statuses["completed"] > statuses["paused"] > 0
    for days_back in range(8, 0, -1):
        start = TODAY - timedelta(days=days_back)
        [row] = q(
            "SELECT COUNT(*) AS n FROM email_sends WHERE created_at >= %(s)s AND created_at < %(e)s",
            s=start,
            e=start + timedelta(days=1),
        )
        assert 1500 <= row["n"] <= 2600, start
    # Nothing happens after `now`.
    for table, column in (
        ("email_sends", "created_at"),
        ("email_sends", "actual_send_time"),
        ("email_sends", "opened_at"),
        ("email_sends", "first_click_at"),
        ("email_sends", "updated_at"),
        ("email_events", "created_at"),
        ("email_events", "event_timestamp"),
        ("workflow_executions", "created_at"),
        ("workflow_errors", "created_at"),
        ("campaign_analytics", "computed_at"),
        ("lead_campaign_enrollments", "updated_at"),
        ("leads", "created_at"),
    ):
        assert q(f"SELECT MAX({column}) AS m FROM {table}")[0]["m"] < NOW, (table, column)
    # Every sent send happened 5-40 s after it was scheduled.
    [delay] = q(
        "SELECT MIN(EXTRACT(EPOCH FROM (actual_send_time - scheduled_send_time))) AS lo,"
        " MAX(EXTRACT(EPOCH FROM (actual_send_time - scheduled_send_time))) AS hi"
        " FROM email_sends WHERE actual_send_time IS NOT NULL"
    )
    assert delay["lo"] >= 5 and delay["hi"] <= 40


def test_events_look_like_sendgrid_webhooks_and_carry_the_documented_hash(q):
    [row] = q(
        "SELECT COUNT(*) AS n FROM email_events"
        " WHERE event_hash <> MD5(email_send_id || '|' || event_type || '|' || (payload ->> 'timestamp'))"
        "    OR payload ->> 'event' <> event_type"
        "    OR (payload ->> 'timestamp')::bigint <> EXTRACT(EPOCH FROM event_timestamp)::bigint"
        "    OR payload ->> 'sg_event_id' IS NULL OR payload ->> 'sg_message_id' IS NULL"
        "    OR payload ->> 'email' IS NULL"
    )
    # (The ten re-stamped duplicates follow it too: their timestamp, and so their hash, moved by 1 s.)
    assert row["n"] == 0
    types = {r["event_type"] for r in q("SELECT DISTINCT event_type FROM email_events")}
    assert types == {"delivered", "open", "click", "bounce", "dropped", "unsubscribe", "group_unsubscribe"}
    [row] = q(
        "SELECT COUNT(*) AS n FROM email_events"
        " WHERE event_type IN ('unsubscribe', 'group_unsubscribe') AND payload ->> 'reason' IS NULL"
    )
    assert row["n"] == 0


# --------------------------------------------------------------------------- the healthy checks


def test_yesterdays_volume_is_healthy(q, manifest):
    [row] = q(
        """
        SELECT COUNT(*) AS emails_sent,
               COUNT(*) FILTER (WHERE send_status = 'sent') AS successful,
               COUNT(*) FILTER (WHERE send_status = 'failed') AS failed,
               ROUND(AVG(EXTRACT(EPOCH FROM (actual_send_time - scheduled_send_time)))) AS avg_delay_seconds
        FROM email_sends
        WHERE created_at >= %(start)s AND created_at < %(end)s
        """,
        **DAY,
    )
    expected = manifest["healthy"]["yesterday_volume"]
    assert (row["emails_sent"], row["successful"], row["failed"]) == (
        expected["emails_sent"],
        expected["successful"],
        expected["failed"],
    )
    assert row["failed"] * 100 / row["emails_sent"] < 1
    assert row["avg_delay_seconds"] < 60


# --------------------------------------------------------------------------- the ten anomalies


def test_1_failure_rate_spike_in_the_last_five_minutes(q, manifest):
    facts = manifest["anomalies"]["failure_spike"]
    window = {"start": NOW - timedelta(minutes=5), "end": NOW}
    [row] = q(
        """
        SELECT COUNT(*) AS sends, COUNT(*) FILTER (WHERE send_status = 'failed') AS failed,
               COUNT(*) FILTER (WHERE send_status = 'failed') * 100.0 / NULLIF(COUNT(*), 0) AS failure_rate
        FROM email_sends
        WHERE created_at >= %(start)s AND created_at < %(end)s
        """,
        **window,
    )
    assert row["sends"] == facts["sends"] >= 60
    assert row["failed"] == facts["failed"]
    assert Decimal(25) < row["failure_rate"] < Decimal(35)
    by_org = q(
        "SELECT organization_id::text AS org, COUNT(*) AS n FROM email_sends"
        " WHERE send_status = 'failed' AND created_at >= %(start)s AND created_at < %(end)s"
        " GROUP BY 1 ORDER BY n DESC",
        **window,
    )
    assert by_org[0]["org"] == facts["organization_id"]
    assert by_org[0]["n"] >= 0.9 * row["failed"]
    reasons = {
        r["failure_reason"]: r["n"]
        for r in q(
            "SELECT failure_reason, COUNT(*) AS n FROM email_sends"
            " WHERE send_status = 'failed' AND created_at >= %(start)s AND created_at < %(end)s GROUP BY 1",
            start=NOW - timedelta(days=1),
            end=NOW,
        )
    }
    assert reasons["SendGrid 429 Too Many Requests"] >= 10
    assert reasons["SendGrid 401 Unauthorized"] >= 3
    # The five minutes before were fine.
    [before] = q(
        "SELECT COUNT(*) FILTER (WHERE send_status = 'failed') * 100.0 / NULLIF(COUNT(*), 0) AS rate"
        " FROM email_sends WHERE created_at >= %(start)s AND created_at < %(end)s",
        start=NOW - timedelta(minutes=10),
        end=NOW - timedelta(minutes=5),
    )
    assert (before["rate"] or 0) < 10
    # The sender logged the API errors.
    errors = q(
        "SELECT error_message FROM workflow_errors WHERE workflow_name = %(w)s"
        " AND created_at >= %(start)s AND created_at < %(end)s",
        w=SENDER,
        **window,
    )
    assert len(errors) == 2 and any("429" in e["error_message"] for e in errors)


def test_2_message_scheduler_stopped_while_the_sender_runs(q, manifest):
    rows = q(
        """
        SELECT workflow_name, MAX(created_at) AS last_run
        FROM workflow_executions
        WHERE workflow_name IN (%(scheduler)s, %(sender)s)
        GROUP BY workflow_name
        HAVING MAX(created_at) < %(threshold)s
        """,
        scheduler=SCHEDULER,
        sender=SENDER,
        threshold=NOW - timedelta(minutes=15),
    )
    assert [r["workflow_name"] for r in rows] == [SCHEDULER]
    last_run = rows[0]["last_run"]
    assert NOW - timedelta(minutes=40) <= last_run < NOW - timedelta(minutes=35)
    assert last_run.isoformat() == manifest["anomalies"]["workflow_stopped"]["last_run"]
    per_minute = q(
        "SELECT workflow_name, COUNT(*) AS n FROM workflow_executions"
        " WHERE created_at >= %(start)s AND created_at < %(end)s GROUP BY 1",
        start=NOW - timedelta(minutes=30),
        end=NOW,
    )
    counts = {r["workflow_name"]: r["n"] for r in per_minute}
    assert counts[SENDER] == 30 and SCHEDULER not in counts
    [sender] = q("SELECT MAX(created_at) AS m FROM workflow_executions WHERE workflow_name = %(w)s", w=SENDER)
    assert sender["m"] >= NOW - timedelta(minutes=1)
    names = {r["workflow_name"] for r in q("SELECT DISTINCT workflow_name FROM workflow_executions")}
    assert names == {SCHEDULER, SENDER, EVENT_TRACKER, ANALYTICS_UPDATER}
    [hourly] = q(
        "SELECT COUNT(*) AS n FROM workflow_executions WHERE workflow_name = %(w)s AND created_at < %(end)s",
        w=SCHEDULER,
        end=NOW - timedelta(hours=2),
    )
    assert 8 * 24 - 24 <= hourly["n"] <= 9 * 24


def test_3_sends_stuck_in_queued(q, manifest):
    rows = q(
        "SELECT id, scheduled_send_time FROM email_sends"
        " WHERE send_status = 'queued' AND scheduled_send_time < %(threshold)s ORDER BY id",
        threshold=NOW - timedelta(hours=1),
    )
    assert [r["id"] for r in rows] == manifest["anomalies"]["stuck_queue"]["send_ids"]
    assert len(rows) == 25
    assert all(
        NOW - timedelta(hours=3) <= r["scheduled_send_time"] <= NOW - timedelta(minutes=70) for r in rows
    )


def test_4_high_bounce_rate_yesterday(q, manifest):
    facts = manifest["anomalies"]["bounces"]
    [overall] = q(
        "SELECT COUNT(*) AS sends, COUNT(*) FILTER (WHERE send_status = 'bounced') AS bounced,"
        " COUNT(*) FILTER (WHERE send_status = 'bounced') * 100.0 / COUNT(*) AS bounce_rate"
        " FROM email_sends WHERE actual_send_time >= %(start)s AND actual_send_time < %(end)s",
        **DAY,
    )
    assert (overall["sends"], overall["bounced"]) == (facts["yesterday_sends"], facts["yesterday_bounced"])
    assert overall["bounce_rate"] > 5
    campaigns = q(
        "SELECT campaign_id, COUNT(*) FILTER (WHERE send_status = 'bounced') * 100.0 / COUNT(*) AS rate,"
        " COUNT(DISTINCT bounce_type) AS bounce_types"
        " FROM email_sends WHERE actual_send_time >= %(start)s AND actual_send_time < %(end)s"
        " GROUP BY campaign_id",
        **DAY,
    )
    high = [c for c in campaigns if c["rate"] > 5]
    assert [c["campaign_id"] for c in high] == [facts["campaign_id"]]
    assert high[0]["bounce_types"] == 2
    # The runbook's "problematic leads" query.
    repeat = q(
        "SELECT lead_id, COUNT(*) AS bounce_count, bounce_type FROM email_sends"
        " WHERE send_status = 'bounced' GROUP BY lead_id, bounce_type HAVING COUNT(*) >= 2"
    )
    assert len(repeat) == facts["lead_bounce_type_pairs_with_2plus"] > 0
    assert {r["bounce_type"] for r in repeat} == {"hard", "soft"}
    [active] = q(
        "SELECT COUNT(DISTINCT es.lead_id) AS n FROM email_sends AS es"
        " INNER JOIN lead_campaign_enrollments AS e ON e.lead_id = es.lead_id AND e.status = 'active'"
        " WHERE es.bounce_type = 'hard'"
    )
    assert active["n"] == facts["hard_bounced_leads_with_active_enrollment"] >= 10
    pairs = q(
        "SELECT es.bounce_type, ev.payload ->> 'type' AS type, COUNT(*) AS n FROM email_sends AS es"
        " INNER JOIN email_events AS ev ON ev.email_send_id = es.id AND ev.event_type = 'bounce'"
        " GROUP BY 1, 2 ORDER BY 1"
    )
    assert [(p["bounce_type"], p["type"]) for p in pairs] == [("hard", "bounce"), ("soft", "blocked")]


def test_5_duplicate_events_yesterday(q, manifest):
    facts = manifest["anomalies"]["duplicate_events"]
    [row] = q(
        "SELECT COUNT(*) AS total_events, COUNT(DISTINCT event_hash) AS unique_events FROM email_events"
        " WHERE created_at >= %(start)s AND created_at < %(end)s",
        **DAY,
    )
    assert row["total_events"] - row["unique_events"] == 40
    assert (row["total_events"], row["unique_events"]) == (facts["events"], facts["distinct_event_hashes"])
    missed = q(
        "SELECT payload ->> 'sg_event_id' AS sg_event_id FROM email_events"
        " WHERE created_at >= %(start)s AND created_at < %(end)s"
        " GROUP BY 1 HAVING COUNT(DISTINCT event_hash) > 1 ORDER BY 1",
        **DAY,
    )
    assert [r["sg_event_id"] for r in missed] == facts["near_duplicate_sg_event_ids"]
    assert len(missed) == 10
    symptoms = q(
        "SELECT email_send_id, event_type, COUNT(*) AS n FROM email_events"
        " GROUP BY email_send_id, event_type HAVING COUNT(*) > 1"
    )
    assert len(symptoms) == 50
    [today] = q(
        "SELECT COUNT(*) AS total, COUNT(DISTINCT event_hash) AS uniq FROM email_events"
        " WHERE created_at >= %(start)s AND created_at < %(end)s",
        start=TODAY,
        end=NOW,
    )
    assert today["total"] == today["uniq"] > 0


def test_6_leads_missing_personalization_data(q, manifest):
    facts = manifest["anomalies"]["missing_personalization"]
    rows = q(
        """
        SELECT l.id, l.organization_id::text AS org, l.name, l.email
        FROM leads AS l
        LEFT JOIN lead_preferences AS lp ON lp.lead_id = l.id
        WHERE (l.name IS NULL OR l.email IS NULL)
          AND EXISTS (
              SELECT 1 FROM lead_campaign_enrollments AS e WHERE e.lead_id = l.id AND e.status = 'active'
          )
        ORDER BY l.id
        """
    )
    assert sorted(r["id"] for r in rows if r["name"] is None) == facts["lead_ids_missing_name"]
    assert sorted(r["id"] for r in rows if r["email"] is None) == facts["lead_ids_missing_email"]
    assert len(facts["lead_ids_missing_name"]) == 12 and len(facts["lead_ids_missing_email"]) == 3
    assert len({r["org"] for r in rows}) >= 2
    assert q("SELECT COUNT(*) AS n FROM leads WHERE name IS NULL OR email IS NULL")[0]["n"] == 15


def test_7_low_engagement_campaign_yesterday(q, manifest):
    facts = manifest["anomalies"]["low_engagement"]
    rates = q(
        """
        SELECT lce.campaign_id,
               COUNT(DISTINCT es.id) AS sends,
               ROUND(COUNT(DISTINCT CASE WHEN es.opened_at IS NOT NULL THEN es.lead_id END) * 100.0
                     / NULLIF(COUNT(DISTINCT es.id), 0), 2) AS open_rate,
               ROUND(COUNT(DISTINCT CASE WHEN es.first_click_at IS NOT NULL THEN es.lead_id END) * 100.0
                     / NULLIF(COUNT(DISTINCT es.id), 0), 2) AS click_rate
        FROM lead_campaign_enrollments AS lce
        INNER JOIN email_sends AS es ON es.enrollment_id = lce.id
        WHERE es.actual_send_time >= %(start)s AND es.actual_send_time < %(end)s
        GROUP BY lce.campaign_id
        """,
        **DAY,
    )
    low = [r for r in rates if r["open_rate"] < 20 or r["click_rate"] < 2]
    assert [r["campaign_id"] for r in low] == [facts["campaign_id"]]
    assert float(low[0]["open_rate"]) == facts["open_rate"]
    assert float(low[0]["click_rate"]) == facts["click_rate"]
    assert 8 <= low[0]["open_rate"] <= 12 and 0.5 <= low[0]["click_rate"] < 2
    healthy = [r for r in rates if r not in low]
    assert all(r["open_rate"] > 20 and r["click_rate"] > 2 for r in healthy)


def test_8_high_unsubscribe_rate_yesterday(q, manifest):
    facts = manifest["anomalies"]["high_unsubscribe"]
    query = """
        SELECT COUNT(*) AS unsubscribes,
               COUNT(*) * 100.0 / (
                   SELECT COUNT(*) FROM email_sends
                   WHERE actual_send_time >= %(start)s AND actual_send_time < %(end)s
                     AND (%(org)s::uuid IS NULL OR organization_id = %(org)s::uuid)
               ) AS unsubscribe_rate
        FROM email_events AS ev
        INNER JOIN email_sends AS es ON es.id = ev.email_send_id
        WHERE ev.event_type = 'unsubscribe'
          AND ev.event_timestamp >= %(start)s AND ev.event_timestamp < %(end)s
          AND (%(org)s::uuid IS NULL OR es.organization_id = %(org)s::uuid)
    """
    [org] = q(query, org=facts["organization_id"], **DAY)
    assert org["unsubscribes"] == facts["organization_unsubscribes"]
    assert org["unsubscribe_rate"] > 1
    [overall] = q(query, org=None, **DAY)
    assert overall["unsubscribes"] == facts["unsubscribes"]
    assert round(float(overall["unsubscribe_rate"]), 2) == facts["rate"]
    assert facts["scope"] == (
        "organization and overall" if overall["unsubscribe_rate"] > 1 else "organization"
    )
    assert facts["organization_id"] == manifest["anomalies"]["low_engagement"]["organization_id"]
    # Unsubscribed enrollments are closed.
    [open_ones] = q(
        "SELECT COUNT(*) AS n FROM email_events AS ev"
        " INNER JOIN email_sends AS es ON es.id = ev.email_send_id"
        " INNER JOIN lead_campaign_enrollments AS e ON e.id = es.enrollment_id"
        " WHERE ev.event_type IN ('unsubscribe', 'group_unsubscribe')"
        "   AND (e.status <> 'completed' OR e.completion_reason <> 'unsubscribed')"
    )
    assert open_ones["n"] == 0


def test_9_campaign_analytics_missing_days_and_consistent_with_the_sends(q, manifest):
    facts = manifest["anomalies"]["missing_analytics"]
    dates = [
        r["d"].isoformat()
        for r in q("SELECT DISTINCT analytics_date AS d FROM campaign_analytics ORDER BY 1")
    ]
    expected = [(TODAY - timedelta(days=d)).date().isoformat() for d in (8, 7, 6, 5, 3, 2)]
    assert dates == expected == facts["present_dates"]
    assert q("SELECT MAX(analytics_date) AS m FROM campaign_analytics")[0]["m"] < YESTERDAY.date()
    for day in expected:
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        recomputed = q(
            """
            SELECT lce.campaign_id,
                   COUNT(DISTINCT es.id) AS emails_sent_today,
                   COUNT(DISTINCT CASE WHEN es.opened_at IS NOT NULL THEN es.lead_id END) AS unique_opens_today,
                   COUNT(DISTINCT CASE WHEN es.first_click_at IS NOT NULL THEN es.lead_id END)
                       AS unique_clicks_today,
                   ROUND(COUNT(DISTINCT CASE WHEN es.opened_at IS NOT NULL THEN es.lead_id END) * 100.0
                         / NULLIF(COUNT(DISTINCT es.id), 0), 2) AS open_rate,
                   ROUND(COUNT(DISTINCT CASE WHEN es.first_click_at IS NOT NULL THEN es.lead_id END) * 100.0
                         / NULLIF(COUNT(DISTINCT es.id), 0), 2) AS click_rate,
                   COUNT(*) FILTER (WHERE es.send_status = 'bounced') AS emails_bounced_today
            FROM lead_campaign_enrollments AS lce
            INNER JOIN email_sends AS es ON es.enrollment_id = lce.id
            WHERE es.actual_send_time >= %(start)s AND es.actual_send_time < %(end)s
            GROUP BY lce.campaign_id
            ORDER BY lce.campaign_id
            """,
            start=start,
            end=start + timedelta(days=1),
        )
        stored = q(
            "SELECT campaign_id, emails_sent_today, unique_opens_today, unique_clicks_today, open_rate,"
            " click_rate, emails_bounced_today FROM campaign_analytics"
            " WHERE analytics_date = %(d)s ORDER BY campaign_id",
            d=start.date(),
        )
        assert stored == recomputed, day
    # The Analytics Updater's failed runs explain the gaps.
    failed = q(
        "SELECT created_at FROM workflow_executions WHERE workflow_name = %(w)s AND status = 'error' ORDER BY 1",
        w=ANALYTICS_UPDATER,
    )
    assert [r["created_at"].date() for r in failed] == [(TODAY - timedelta(days=3)).date(), TODAY.date()]


def test_10_overdue_enrollments(q, manifest):
    [row] = q(
        """
        SELECT COUNT(*) AS active_enrollments,
               COUNT(*) FILTER (WHERE next_send_at <= %(now)s) AS overdue,
               COUNT(*) FILTER (WHERE next_send_at <= %(soon)s) AS due_soon
        FROM lead_campaign_enrollments
        WHERE status = 'active'
        """,
        now=NOW,
        soon=NOW + timedelta(hours=1),
    )
    assert row["overdue"] == 30 < row["due_soon"] < row["active_enrollments"]
    overdue = q(
        "SELECT id, next_send_at FROM lead_campaign_enrollments"
        " WHERE status = 'active' AND next_send_at <= %(now)s ORDER BY id",
        now=NOW,
    )
    assert [r["id"] for r in overdue] == manifest["anomalies"]["overdue_enrollments"]["enrollment_ids"]
    assert all(NOW - timedelta(hours=2) <= r["next_send_at"] < NOW - timedelta(minutes=20) for r in overdue)


def test_old_data_for_the_archive_and_the_cleanup(q):
    [sends] = q(
        "SELECT COUNT(*) AS n, MIN(created_at) AS lo, MAX(created_at) AS hi FROM email_sends"
        " WHERE created_at < %(cutoff)s",
        cutoff=NOW - timedelta(days=365),
    )
    assert sends["n"] == 300
    assert sends["lo"] >= NOW - timedelta(days=420) and sends["hi"] <= NOW - timedelta(days=380)
    [events] = q(
        "SELECT COUNT(*) AS n FROM email_events AS ev INNER JOIN email_sends AS es ON es.id = ev.email_send_id"
        " WHERE es.created_at < %(cutoff)s",
        cutoff=NOW - timedelta(days=365),
    )
    assert events["n"] >= 280
    [done] = q(
        "SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE completion_reason = 'sequence_finished') AS finished,"
        " MIN(completed_at) AS lo, MAX(completed_at) AS hi FROM lead_campaign_enrollments"
        " WHERE status = 'completed' AND completed_at < %(cutoff)s",
        cutoff=NOW - timedelta(days=90),
    )
    assert done["n"] == done["finished"] == 150
    assert done["lo"] >= NOW - timedelta(days=150) and done["hi"] <= NOW - timedelta(days=100)


# --------------------------------------------------------------------------- the row builder


def test_row_builder_one_by_one_in_batches_and_with_explicit_ids(db):
    b = Builder(db, now=NOW)
    org = b.org("Acme")
    camp = b.campaign(org, "Welcome")
    lead = b.lead(org, metadata={"source": "webform"})
    assert b.preferences(lead, timezone="Europe/Berlin", preferred_send_hour=9) == lead
    enr = b.enrollment(lead, camp, status="completed", completed_at=NOW - timedelta(hours=1))
    send = b.send(lead, camp, enrollment_id=enr, status="bounced", sent_at=NOW - timedelta(minutes=5))
    [row] = db.execute(
        "SELECT organization_id, bounce_type, created_at, scheduled_send_time, updated_at FROM email_sends"
        " WHERE id = %s",
        (send,),
    ).fetchall()
    assert row == (
        org,
        "hard",
        NOW - timedelta(minutes=5),
        NOW - timedelta(minutes=5),
        NOW - timedelta(minutes=5),
    )
    assert db.execute("SELECT updated_at FROM lead_campaign_enrollments").fetchone()[0] == NOW - timedelta(
        hours=1
    )

    # A batch: ids in order; COPY with explicit ids, then the sequence continues after them.
    times = [NOW + timedelta(seconds=i) for i in range(3)]
    ids = rows.insert_many(
        db, [rows.event(send, "open", at=t, event_hash=f"h{i}") for i, t in enumerate(times)]
    )
    assert db.execute("SELECT id, event_timestamp FROM email_events ORDER BY id").fetchall() == list(
        zip(ids, times, strict=True)
    )
    assert rows.copy(db, (rows.execution(SENDER, at=NOW, items=i, id=100 + i) for i in range(3))) == 3
    rows.continue_identities(db, ["workflow_executions"])
    assert b.execution(SENDER, items=7, duration_ms=900) == 103
    with pytest.raises(ValueError, match="one batch"):
        rows.insert_many(db, [rows.execution(SENDER, at=NOW), rows.execution(SENDER, at=NOW, id=1)])
    with pytest.raises(TypeError, match="no column"):
        rows.analytics(org, camp, NOW.date(), computed_at=NOW, opens=3)


# --------------------------------------------------------------------------- simulate


def small_world(dsn: str, now: datetime, *, leads: int = 20) -> None:
    """One organization, one campaign, `leads` active enrollments, the first one already due."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        world = Builder(conn, now=now - timedelta(days=30))
        org = world.org("Sim Org")
        campaign = world.campaign(org, "Sim Welcome")
        for i in range(leads):
            lead = world.lead(org, f"Sim Lead {i}", f"sim{i}@sim.example")
            due = now - timedelta(hours=1) if i == 0 else now + timedelta(days=1)
            world.enrollment(lead, campaign, next_send_at=due)


def test_simulate_cli_writes_sends_and_executions(leads_db):
    small_world(leads_db, datetime.now(UTC))
    result = run_cli(
        "dev.simulate",
        "--dsn",
        leads_db,
        "--duration",
        "3",
        "--tick",
        "1",
        "--rate",
        "600",
        "--seed",
        "1",
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    ticks = [line for line in result.stdout.splitlines() if " tick: " in line]
    assert len(ticks) >= 3
    assert "stopped after" in result.stdout.splitlines()[-1]
    with psycopg.connect(leads_db) as conn:
        sends = conn.execute("SELECT COUNT(*) FROM email_sends").fetchone()[0]
        executions = dict(
            conn.execute("SELECT workflow_name, COUNT(*) FROM workflow_executions GROUP BY 1").fetchall()
        )
        [(overdue,)] = conn.execute(
            "SELECT COUNT(*) FROM lead_campaign_enrollments WHERE next_send_at <= %s", (datetime.now(UTC),)
        ).fetchall()
    assert sends >= 20
    assert executions[SCHEDULER] >= 1 and executions[SENDER] >= 1
    assert overdue == 0  # the scheduler picked up the due enrollment


def test_simulator_incidents_and_a_database_outage(leads_db):
    """Drive the simulator with a synthetic clock (15 s ticks, no waiting): the database is down
    for two ticks, then a failure spike, then the Email Sender stopping."""
    start = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
    rate = 60
    small_world(leads_db, start)
    lines: list[str] = []
    sim = Simulator(
        "postgresql://postgres@127.0.0.1:1/unreachable",
        rate=rate,
        incident_every=1,
        tick=0,
        rng=random.Random(3),
        log=lines.append,
    )
    times = iter(start + timedelta(seconds=15 * i) for i in range(1000))

    def clock() -> datetime:
        now = next(times)
        if now >= start + timedelta(seconds=30):
            sim.dsn = leads_db  # the database is back
        if now >= start + timedelta(minutes=40):
            sim.stop()
        return now

    sim.run(clock=clock)
    assert sum("database unavailable" in line for line in lines) == 2
    assert sum(" tick: " in line for line in lines) >= 150
    spike, stopped = sim.history[:2]
    assert (spike.kind, stopped.kind) == ("failure_spike", "sender_stopped")
    assert timedelta(minutes=5) <= spike.ends - spike.started <= timedelta(minutes=15)
    assert timedelta(minutes=15) < stopped.ends - stopped.started <= timedelta(minutes=20)
    assert any("RECOVERED failure_spike" in line for line in lines)

    def one(conn, text, *params):
        return conn.execute(text, params).fetchone()

    with psycopg.connect(leads_db, row_factory=dict_row) as conn:
        # Sends the sender handled during the spike: ~30% failed, with SendGrid 429/401.
        during = one(
            conn,
            "SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE send_status = 'failed') AS failed,"
            " COUNT(*) FILTER (WHERE failure_reason IN ('SendGrid 429 Too Many Requests',"
            "   'SendGrid 401 Unauthorized')) AS api_errors"
            " FROM email_sends WHERE scheduled_send_time >= %s AND scheduled_send_time < %s",
            spike.started,
            spike.ends - timedelta(seconds=30),
        )
        assert during["n"] >= rate * 4
        assert 0.2 <= during["failed"] / during["n"] <= 0.4
        assert during["api_errors"] == during["failed"]
        # Before the spike, failures are rare.
        calm = one(
            conn,
            "SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE send_status = 'failed') AS failed FROM email_sends"
            " WHERE scheduled_send_time < %s",
            spike.started - timedelta(seconds=20),
        )
        assert calm["n"] > 0 and calm["failed"] <= 2
        # The Email Sender stopped: no executions, the scheduler kept going, sends waited.
        runs = {
            r["workflow_name"]: r["n"]
            for r in conn.execute(
                "SELECT workflow_name, COUNT(*) AS n FROM workflow_executions"
                " WHERE created_at >= %s AND created_at < %s GROUP BY 1",
                (stopped.started, stopped.ends),
            ).fetchall()
        }
        assert SENDER not in runs and runs[SCHEDULER] >= 15
        waited = one(
            conn,
            "SELECT COUNT(*) AS n FROM email_sends WHERE scheduled_send_time >= %s AND scheduled_send_time < %s"
            " AND (send_status = 'queued' OR actual_send_time >= %s OR (send_status = 'failed' AND updated_at >= %s))",
            stopped.started,
            stopped.ends - timedelta(seconds=30),
            stopped.ends - timedelta(seconds=15),  # sent in the tick that noticed the recovery
            stopped.ends - timedelta(seconds=15),
        )
        made = one(
            conn,
            "SELECT COUNT(*) AS n FROM email_sends WHERE scheduled_send_time >= %s AND scheduled_send_time < %s",
            stopped.started,
            stopped.ends - timedelta(seconds=30),
        )
        assert made["n"] >= rate * 15 and waited["n"] == made["n"]
        errors = [
            r["error_message"] for r in conn.execute("SELECT error_message FROM workflow_errors").fetchall()
        ]
        assert any("429" in e for e in errors)
