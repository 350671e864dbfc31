"""Issue 9, point 2: analytics stay right after archiving.

The annual archive cuts on email_sends.created_at, the analytics count on actual_send_time, so a
day can be partly archived. Recomputing such a day (manual backfill, or the gap filler of the
daily health check) must give exactly the numbers it had before the archive moved anything: the
rollup reads email_sends_archive / email_events_archive as well. And a manual backfill may not
reach further back than nurture_ops_backfill_max_days, even for a single day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from nurture_ops.annual_archive.archive import archive_sends_and_events
from nurture_ops.core import analytics
from nurture_ops.core.windows import day_bounds
from tests.builders import Seed, at

DAY = date(2025, 3, 10)  # the partly archived day
DAYS = [DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)]
CUTOFF = at(DAY, 12)  # the archive moves sends created before noon of DAY
ARCHIVED_AT = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
COMPUTED_AT = datetime(2025, 3, 12, 1, 0, tzinfo=UTC)
RECOMPUTED_AT = datetime(2026, 5, 2, 1, 0, tzinfo=UTC)
ANALYTICS_COLUMNS = [
    "id",
    "organization_id",
    "campaign_id",
    "analytics_date",
    "emails_sent_today",
    "emails_delivered_today",
    "emails_failed_today",
    "emails_bounced_today",
    "unique_opens_today",
    "unique_clicks_today",
    "unsubscribes_today",
    "delivery_rate",
    "open_rate",
    "click_rate",
    "unsubscribe_rate",
    "bounce_rate",
]  # every column but computed_at


def analytics_rows(conn, *, with_id: bool = True) -> list[dict]:
    columns = ANALYTICS_COLUMNS if with_id else ANALYTICS_COLUMNS[1:]
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT {', '.join(columns)} FROM campaign_analytics ORDER BY analytics_date, campaign_id"
        )
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def sent_per_campaign(rows: list[dict], day: date) -> dict[int, int]:
    return {r["campaign_id"]: r["emails_sent_today"] for r in rows if r["analytics_date"] == day}


def live_sends_on(conn, day: date) -> dict[int, int]:
    window = day_bounds(day)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT campaign_id, COUNT(*) FROM email_sends "
            "WHERE actual_send_time >= %s AND actual_send_time < %s GROUP BY campaign_id",
            (window.start, window.end),
        )
        return dict(cur.fetchall())


def table_exists(conn, name: str) -> bool:
    return conn.execute("SELECT TO_REGCLASS(%s) IS NOT NULL", (name,)).fetchone()[0]


def seed_partly_archived_day(seed: Seed) -> dict[str, int]:
    """DAY: campaign A (org 1) 3 sends, campaign B (org 2) 4 sends, with opens, clicks, a bounce, a
    failure and unsubscribes (one retried by SendGrid, one of a send of the day before, one the day
    after). Sends created before CUTOFF are archived: all of A's, 2 of B's, the day before's, and
    the day after's first send (created on DAY, sent just after midnight)."""
    org_a, org_b = seed.org("Org A"), seed.org("Org B")
    camp_a, camp_b = seed.campaign(org_a, "A"), seed.campaign(org_b, "B")
    lead_a = [seed.lead(org_a) for _ in range(2)]
    lead_b = [seed.lead(org_b) for _ in range(4)]
    early = at(DAY, 8)  # created before the cut, sent after it: archived
    late = at(DAY, 13)  # created after the cut: stays live

    def send(lead, camp, created, sent, **columns):
        return seed.send(lead, camp, created_at=created, sent_at=sent, **columns)

    # Campaign A: 3 sends, 2 leads (the first lead twice, both opened: 1 unique open of them).
    a1 = send(lead_a[0], camp_a, early, at(DAY, 14), opened_at=at(DAY, 15), first_click_at=at(DAY, 15, 5))
    a2 = send(lead_a[0], camp_a, early, at(DAY, 16), opened_at=at(DAY, 17))
    a3 = send(lead_a[1], camp_a, early, at(DAY, 23, 59, 59), status="bounced", bounce_type="hard")
    # Campaign B: 4 sends, 2 archived and 2 live.
    b1 = send(lead_b[0], camp_b, early, at(DAY, 0, 0, 0), opened_at=at(DAY, 9))
    send(lead_b[1], camp_b, early, at(DAY, 18), status="failed", failure_reason="timeout")
    b3 = send(lead_b[2], camp_b, late, at(DAY, 19), opened_at=at(DAY, 20), first_click_at=at(DAY, 20, 1))
    b4 = send(lead_b[3], camp_b, late, at(DAY, 21), status="bounced", bounce_type="soft")
    # The day before (archived) and the day after (one archived, one live).
    before = send(lead_b[0], camp_b, at(DAYS[0], 9), at(DAYS[0], 10), opened_at=at(DAYS[0], 11))
    after1 = send(lead_a[1], camp_a, early, at(DAYS[2], 0, 0, 0), opened_at=at(DAYS[2], 7))
    after2 = send(lead_b[1], camp_b, late, at(DAYS[2], 9))

    for send_id, moment in ((a1, at(DAY, 14)), (a2, at(DAY, 16)), (b1, at(DAY, 0)), (b3, at(DAY, 19))):
        seed.event(send_id, "delivered", at=moment + timedelta(seconds=5))
    seed.event(a1, "open", at=at(DAY, 15))
    seed.event(a1, "click", at=at(DAY, 15, 5))
    seed.event(a2, "open", at=at(DAY, 17))
    seed.event(a3, "bounce", at=at(DAY, 23, 59, 59))
    seed.event(b1, "open", at=at(DAY, 9))
    seed.event(b3, "open", at=at(DAY, 20))
    seed.event(b3, "click", at=at(DAY, 20, 1))
    seed.event(b4, "bounce", at=at(DAY, 21))
    seed.event(a2, "unsubscribe", at=at(DAY, 17, 30))
    seed.event(a2, "unsubscribe", at=at(DAY, 17, 30, 30))  # SendGrid retry: one unsubscribe
    seed.event(b1, "group_unsubscribe", at=at(DAY, 22))
    seed.event(b3, "unsubscribe", at=at(DAY, 23))
    seed.event(before, "unsubscribe", at=at(DAY, 1))  # counted on DAY, for campaign B
    seed.event(a1, "unsubscribe", at=at(DAYS[2], 2))  # counted on the day after
    seed.event(after1, "open", at=at(DAYS[2], 7))
    seed.event(after2, "delivered", at=at(DAYS[2], 9))
    return {"A": camp_a, "B": camp_b, "b3": b3}


def archive_before_cutoff(conn) -> dict:
    lines: list[str] = []
    result = archive_sends_and_events(
        conn, cutoff=CUTOFF, run_id="annual-2026", archived_at=ARCHIVED_AT, log=lines.append
    )
    assert result["reconciled"] is True
    return result


def check_seed_numbers(rows: list[dict], camps: dict[str, int]) -> None:
    """Before the archive: the day's figures as seeded."""
    assert sent_per_campaign(rows, DAY) == {camps["A"]: 3, camps["B"]: 4}
    day = {r["campaign_id"]: r for r in rows if r["analytics_date"] == DAY}
    a, b = day[camps["A"]], day[camps["B"]]
    assert (a["emails_delivered_today"], a["emails_bounced_today"], a["emails_failed_today"]) == (2, 1, 0)
    assert (a["unique_opens_today"], a["unique_clicks_today"], a["unsubscribes_today"]) == (1, 1, 1)
    assert (b["emails_delivered_today"], b["emails_bounced_today"], b["emails_failed_today"]) == (2, 1, 1)
    assert (b["unique_opens_today"], b["unique_clicks_today"], b["unsubscribes_today"]) == (2, 1, 3)


# --- (a) manual backfill of a partly archived day -------------------------------------------------


def test_backfill_of_a_partly_archived_day_gives_the_numbers_it_had_before_archiving(
    seed: Seed, db, leads_db
):
    camps = seed_partly_archived_day(seed)
    lines: list[str] = []
    analytics.backfill(db, DAYS, COMPUTED_AT, log=lines.append)
    before = analytics_rows(db)
    check_seed_numbers(before, camps)
    # On a database that was never archived the rollup reads the live tables only, creating nothing.
    assert not table_exists(db, "email_sends_archive")

    moved = archive_before_cutoff(db)
    assert (moved["sends"]["moved"], moved["events"]["moved"]) == (7, 14)
    assert live_sends_on(db, DAY) == {camps["B"]: 2}  # what the live table alone says now

    lines.clear()
    with psycopg.connect(leads_db) as conn:  # not autocommit, as nurture_ops.core.db.connect() can be
        totals = analytics.backfill(conn, DAYS, RECOMPUTED_AT, log=lines.append)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # each day committed
    assert analytics_rows(db) == before  # same ids: updated in place, A's row not deleted as stale
    assert totals["rows_deleted"] == 0
    # (a "warning: ..." line comes first when the archive lacks the send-time index)
    assert [line for line in lines if line.startswith("day ")] == [
        "day 1/3: 2025-03-09, 1 campaign rows",
        "day 2/3: 2025-03-10, 2 campaign rows",
        "day 3/3: 2025-03-11, 2 campaign rows",
    ]
    with db.cursor() as cur:
        cur.execute("SELECT DISTINCT computed_at FROM campaign_analytics")
        assert cur.fetchall() == [(RECOMPUTED_AT,)]  # recomputed, not skipped

    # A send restored to the live table by hand but still archived is counted once (the live copy).
    db.execute(
        "INSERT INTO email_sends SELECT id, organization_id, enrollment_id, lead_id, campaign_id, "
        "send_status, scheduled_send_time, actual_send_time, failure_reason, bounce_type, "
        "sendgrid_message_id, opened_at, first_click_at, created_at, updated_at "
        "FROM email_sends_archive WHERE campaign_id = %s AND send_status = 'failed'",
        (camps["B"],),
    )
    analytics.backfill(db, DAYS, RECOMPUTED_AT, log=lines.append)
    assert analytics_rows(db) == before


def test_the_rollup_of_a_day_reads_the_archive_through_its_send_time_index(seed: Seed, db):
    """The rollup of one day stays a window scan on the archive too (index on actual_send_time)."""
    seed_partly_archived_day(seed)
    archive_before_cutoff(db)
    assert analytics.ensure_archive_send_time_index(db) is True
    sources = analytics.archive_sources(db)
    assert (sources.sends_archive, sources.events_archive, sources.sends_archive_indexed) == (True,) * 3
    assert sources.unindexed_warning is None
    window = day_bounds(DAY)
    params = {"day": DAY, "day_start": window.start, "day_end": window.end, "computed_at": RECOMPUTED_AT}
    query = analytics.render_upsert(db)
    assert "email_sends_archive" in query and "email_events_archive" in query
    with db.transaction(force_rollback=True):
        db.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask whether an index path exists
        plan = "\n".join(r[0] for r in db.execute(f"EXPLAIN {query}", params).fetchall())
    assert "email_sends_archive_actual_send_time_idx on email_sends_archive" in plan
    assert "Seq Scan on email_sends_archive" not in plan
    assert "Seq Scan on email_events_archive" not in plan


# --- (b) the gap filler on a partly archived day --------------------------------------------------


def test_gap_filler_finds_and_fills_a_partly_archived_day_exactly(seed: Seed, db):
    camps = seed_partly_archived_day(seed)
    for day in DAYS:
        analytics.rollup_day(db, day, COMPUTED_AT)
    before = analytics_rows(db, with_id=False)
    check_seed_numbers(before, camps)
    archive_before_cutoff(db)
    # The rows of DAY and of the day after are lost (a failed rollup, a bad manual DELETE).
    db.execute("DELETE FROM campaign_analytics WHERE analytics_date IN (%s, %s)", (DAYS[1], DAYS[2]))

    # What the daily health check's remediation does: list the days, roll each up, list again.
    missing = analytics.missing_analytics_days(db, DAYS[0], DAYS[2])
    assert missing == [DAYS[1], DAYS[2]]
    for day in missing:
        analytics.rollup_day(db, day, RECOMPUTED_AT)
    assert analytics_rows(db, with_id=False) == before
    assert analytics.missing_analytics_days(db, DAYS[0], DAYS[2]) == []

    # A campaign whose sends of the day are all archived is still seen as missing when its row is.
    db.execute(
        "DELETE FROM campaign_analytics WHERE analytics_date = %s AND campaign_id = %s", (DAY, camps["A"])
    )
    assert analytics.missing_analytics_days(db, DAY, DAY) == [DAY]
    analytics.rollup_day(db, DAY, RECOMPUTED_AT)
    assert analytics_rows(db, with_id=False) == before


# --- (c) a single old day is refused like a long range ---------------------------------------------

LATEST = date(2026, 11, 28)  # the last complete day of a run on 2026-11-29


def test_a_single_day_older_than_max_days_is_refused_naming_the_dates_and_the_variable():
    old = {"start_date": "2023-11-28", "end_date": "2023-11-28"}
    with pytest.raises(ValueError) as refused:
        analytics.parse_backfill_range(old, latest_allowed=LATEST, max_days=400)
    message = str(refused.value)
    assert message.startswith(
        "start_date 2023-11-28 is 1096 days before 2026-11-28, the last complete day of this run; "
        "a backfill may reach back at most 400 days (Variable nurture_ops_backfill_max_days): "
        "use start_date >= 2025-10-24"
    )
    # The limit itself is allowed; one day more is not; a larger Variable lets the old day through.
    edge = {"start_date": "2025-10-24", "end_date": "2025-10-24"}
    assert analytics.parse_backfill_range(edge, latest_allowed=LATEST, max_days=400) == [date(2025, 10, 24)]
    with pytest.raises(ValueError, match="start_date 2025-10-23 is 401 days before 2026-11-28"):
        analytics.parse_backfill_range(
            {"start_date": "2025-10-23", "end_date": "2025-10-23"}, latest_allowed=LATEST, max_days=400
        )
    assert analytics.parse_backfill_range(old, latest_allowed=LATEST, max_days=1200) == [date(2023, 11, 28)]


@pytest.mark.e2e
def test_the_rollup_dag_refuses_a_single_day_older_than_max_days_and_writes_nothing(
    run_dag, seed: Seed, db, slack_sink
):
    org = seed.org()
    camp = seed.campaign(org)
    seed.send(seed.lead(org), camp, created_at=at("2023-11-28", 9), sent_at=at("2023-11-28", 10))
    states = run_dag(
        "nurture_analytics_rollup",
        datetime(2026, 11, 29, 1, 0, tzinfo=UTC),
        run_conf={"start_date": "2023-11-28", "end_date": "2023-11-28"},
    )
    assert states["plan_days"] == "failed"
    assert states["rollup_campaign_analytics"] == "upstream_failed"
    assert analytics_rows(db) == []
    (failure,) = [p["text"] for p in slack_sink.payloads()]
    assert failure.startswith("[CRITICAL] Task failed: nurture_analytics_rollup.plan_days")
    assert "start_date 2023-11-28 is 1096 days before 2026-11-28" in failure
    assert "nurture_ops_backfill_max_days" in failure
