"""nurture_ops.analytics and include/sql/analytics/: the rollup equals a recomputation from the
raw rows, is repeatable, and backfill / gap filling go through it."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from nurture_ops.core import analytics
from nurture_ops.core import db as nodb
from nurture_ops.core.windows import day_bounds
from tests.builders import Seed, at

WEEK = [date(2026, 4, 27) + timedelta(days=i) for i in range(7)]
QUIET_DAY = WEEK[3]  # nothing is sent that day
COMPUTED_AT = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
SCHEDULER = "Lead Nurture - Message Scheduler"
SENDER = "Lead Nurture - Email Sender"
COLUMNS = [
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
    "computed_at",
]
UNSUBSCRIBE_TYPES = ("unsubscribe", "group_unsubscribe")


def seed_week(seed: Seed, rng: random.Random) -> None:
    """About 150 sends over WEEK (none on QUIET_DAY), with boundary times, repeat leads, late
    opens, duplicate and cross-midnight unsubscribes, and sends whose enrollment is gone."""
    orgs = [seed.org(f"Org {i}") for i in range(3)]
    campaigns = [seed.campaign(orgs[i % 3], f"Campaign {i}") for i in range(5)]
    leads = {
        c: [seed.lead(seed_org) for _ in range(6)] for c, seed_org in zip(campaigns, orgs * 2, strict=False)
    }
    sends = []
    for day in WEEK:
        if day == QUIET_DAY:
            continue
        for _ in range(rng.randint(15, 25)):
            camp = rng.choice(campaigns[: rng.randint(2, 5)])
            lead = rng.choice(leads[camp])
            moment = rng.choice(
                [at(day, 0, 0, 0), at(day, 23, 59, 59), at(day, rng.randint(0, 23), rng.randint(0, 59))]
            )
            status = rng.choices(["sent", "failed", "bounced", "queued"], weights=[80, 6, 8, 6])[0]
            sent_at = None if status == "queued" else moment
            opened = (
                moment + timedelta(hours=rng.randint(1, 40))
                if status == "sent" and rng.random() < 0.4
                else None
            )
            clicked = opened + timedelta(minutes=5) if opened and rng.random() < 0.4 else None
            send_id = seed.send(
                lead,
                camp,
                status=status,
                sent_at=sent_at,
                created_at=moment - timedelta(minutes=1),
                bounce_type=rng.choice(["hard", "soft"]) if status == "bounced" else None,
                opened_at=opened,
                first_click_at=clicked,
                enrollment_id=rng.choice([None, 999_999]),  # archived or never linked
            )
            sends.append((send_id, moment))
    for send_id, moment in rng.sample(sends, 25):
        when = moment + timedelta(hours=rng.choice([0, 5, 30]))
        kind = rng.choice(UNSUBSCRIBE_TYPES)
        seed.event(send_id, kind, at=when)
        if rng.random() < 0.3:
            seed.event(send_id, kind, at=when + timedelta(seconds=30))  # SendGrid retry
        seed.event(send_id, "open", at=when)


def rate(numerator: int, denominator: int) -> Decimal | None:
    if denominator == 0:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def recompute(conn, computed_at: datetime) -> list[tuple]:
    """campaign_analytics as it should be, computed in Python from the raw rows."""
    with conn.cursor() as cur:
        cur.execute("SELECT id, organization_id FROM nurture_campaigns")
        campaign_org = dict(cur.fetchall())
        cur.execute(
            "SELECT id, campaign_id, lead_id, send_status, actual_send_time, opened_at, first_click_at "
            "FROM email_sends"
        )
        sends = cur.fetchall()
        cur.execute("SELECT email_send_id, event_type, event_timestamp FROM email_events")
        events = cur.fetchall()
    send_campaign = {s[0]: s[1] for s in sends}
    acc: dict[tuple, dict] = defaultdict(
        lambda: {"sent": 0, "status": defaultdict(int), "opens": set(), "clicks": set(), "unsubs": set()}
    )
    for _id, campaign, lead, status, actual, opened, clicked in sends:
        if actual is None:
            continue
        key = (campaign, actual.astimezone(UTC).date())
        acc[key]["sent"] += 1
        acc[key]["status"][status] += 1
        if opened is not None:
            acc[key]["opens"].add(lead)
        if clicked is not None:
            acc[key]["clicks"].add(lead)
    for send_id, event_type, ts in events:
        key = (send_campaign[send_id], ts.astimezone(UTC).date())
        if event_type in UNSUBSCRIBE_TYPES and key in acc:
            acc[key]["unsubs"].add(send_id)
    rows = []
    for (campaign, day), a in acc.items():
        delivered, failed, bounced = (a["status"][s] for s in ("sent", "failed", "bounced"))
        rows.append(
            (
                campaign_org[campaign],
                campaign,
                day,
                a["sent"],
                delivered,
                failed,
                bounced,
                len(a["opens"]),
                len(a["clicks"]),
                len(a["unsubs"]),
                rate(delivered, delivered + failed + bounced),
                rate(len(a["opens"]), a["sent"]),
                rate(len(a["clicks"]), a["sent"]),
                rate(len(a["unsubs"]), a["sent"]),
                rate(bounced, a["sent"]),
                computed_at,
            )
        )
    return sorted(rows, key=lambda r: (r[2], r[1]))


def stored(conn, *, with_id: bool = False) -> list[tuple]:
    columns = (["id"] if with_id else []) + COLUMNS
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT {', '.join(columns)} FROM campaign_analytics ORDER BY analytics_date, campaign_id"
        )
        return cur.fetchall()


def count_rows(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM campaign_analytics")
        return cur.fetchone()[0]


# --- rollup_day --------------------------------------------------------------------------------


def test_rollup_of_a_seeded_week_equals_a_recomputation_and_is_repeatable(seed: Seed, db):
    seed_week(seed, random.Random(20260504))
    expected = recompute(db, COMPUTED_AT)
    assert len(expected) > 20
    assert QUIET_DAY not in {r[2] for r in expected}

    per_day = {day: analytics.rollup_day(db, day, COMPUTED_AT) for day in WEEK}
    assert per_day[QUIET_DAY] == 0
    assert sum(per_day.values()) == len(expected)
    assert stored(db) == expected
    first = stored(db, with_id=True)

    # Rerun: identical rows, same ids (updated in place, not re-inserted).
    for day in WEEK:
        analytics.rollup_day(db, day, COMPUTED_AT)
    assert stored(db, with_id=True) == first

    # The daily KPIs of measure_kpis.sql are the sums of the day's rows.
    for day in WEEK:
        window = day_bounds(day)
        kpis = nodb.fetch_one(
            db,
            "checks/daily/measure_kpis.sql",
            {
                "day_start": window.start,
                "day_end": window.end,
                "workflow_scheduler": SCHEDULER,
                "workflow_sender": SENDER,
            },
        )
        rows = [r for r in expected if r[2] == day]
        assert (kpis["emails_sent"], kpis["delivered"], kpis["failed"], kpis["bounced"]) == tuple(
            sum(r[i] for r in rows) for i in (3, 4, 5, 6)
        )
        assert (kpis["unique_opens"], kpis["unique_clicks"]) == (
            sum(r[7] for r in rows),
            sum(r[8] for r in rows),
        )


def test_rollup_after_data_changed_is_exact_and_drops_campaigns_without_sends(seed: Seed, db):
    seed_week(seed, random.Random(7))
    day = WEEK[1]
    analytics.rollup_day(db, day, COMPUTED_AT)
    before = {r[1] for r in stored(db)}
    assert len(before) >= 2
    gone, kept = sorted(before)[:1], sorted(before)[1:]
    # The sends of one campaign that day move to another campaign (a data fix), and an open arrives.
    window = day_bounds(day)
    with db.cursor() as cur:
        cur.execute(
            "UPDATE email_sends SET campaign_id = %s WHERE campaign_id = %s "
            "AND actual_send_time >= %s AND actual_send_time < %s",
            (kept[0], gone[0], window.start, window.end),
        )
        cur.execute(
            "UPDATE email_sends SET opened_at = %s WHERE id = (SELECT MIN(id) FROM email_sends "
            "WHERE actual_send_time >= %s AND actual_send_time < %s AND send_status = 'sent')",
            (window.end, window.start, window.end),
        )
    later = COMPUTED_AT + timedelta(days=1)
    analytics.rollup_day(db, day, later)
    assert stored(db) == [r for r in recompute(db, later) if r[2] == day]
    assert gone[0] not in {r[1] for r in stored(db)}


def test_rollup_keeps_the_history_of_a_day_whose_sends_are_archived(seed: Seed, db):
    org = seed.org()
    camp = seed.campaign(org)
    lead = seed.lead(org)
    day = WEEK[0]
    send_id = seed.send(lead, camp, sent_at=at(day, 10), opened_at=at(day, 11))
    assert analytics.rollup_day(db, day, COMPUTED_AT) == 1
    history = stored(db)
    with db.cursor() as cur:
        cur.execute("DELETE FROM email_sends WHERE id = %s", (send_id,))  # what the yearly archive does
    assert analytics.rollup_day(db, day, COMPUTED_AT + timedelta(days=400)) == 0
    assert stored(db) == history


def test_rollup_of_a_day_without_sends_writes_nothing(seed: Seed, db):
    org = seed.org()
    camp = seed.campaign(org)
    seed.send(seed.lead(org), camp, sent_at=at(WEEK[0], 23, 59, 59))
    seed.send(seed.lead(org), camp, sent_at=at(WEEK[2], 0, 0, 0))
    assert analytics.rollup_day(db, WEEK[1], COMPUTED_AT) == 0
    assert count_rows(db) == 0


def test_rollup_rejects_naive_times_and_datetimes_as_days(db):
    with pytest.raises(ValueError, match="timezone-aware"):
        analytics.rollup_day(db, WEEK[0], datetime(2026, 5, 4, 6, 0))
    with pytest.raises(TypeError, match=r"datetime\.date"):
        analytics.rollup_day(db, datetime(2026, 5, 4, tzinfo=UTC), COMPUTED_AT)


def test_rollup_commits_on_a_non_autocommit_connection(seed: Seed, db, leads_db):
    import psycopg

    org = seed.org()
    seed.send(seed.lead(org), seed.campaign(org), sent_at=at(WEEK[0], 10))
    with psycopg.connect(leads_db) as conn:  # autocommit off, as nurture_ops.db.connect() hands out
        assert analytics.rollup_day(conn, WEEK[0], COMPUTED_AT) == 1
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert count_rows(db) == 1


# --- parse_backfill_range ----------------------------------------------------------------------

LATEST = date(2026, 5, 3)


@pytest.mark.parametrize(
    "params",
    [{}, {"start_date": None, "end_date": None}, {"start_date": "", "end_date": "  "}, {"other": "x"}],
)
def test_no_backfill_when_neither_date_is_given(params):
    assert analytics.parse_backfill_range(params, latest_allowed=LATEST) is None


def test_backfill_range_is_inclusive():
    assert analytics.parse_backfill_range(
        {"start_date": "2026-04-30", "end_date": "2026-05-03"}, latest_allowed=LATEST
    ) == [date(2026, 4, 30), date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)]
    assert analytics.parse_backfill_range(
        {"start_date": " 2026-05-01 ", "end_date": date(2026, 5, 1)}, latest_allowed=LATEST
    ) == [date(2026, 5, 1)]
    days = analytics.parse_backfill_range(
        {"start_date": "2025-03-30", "end_date": "2026-05-03"}, latest_allowed=LATEST, max_days=400
    )
    assert len(days) == 400


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start_date": "2026-05-01"}, "start_date is set but end_date is empty: give both"),
        ({"start_date": "2026-05-01", "end_date": ""}, "start_date is set but end_date is empty"),
        ({"end_date": "2026-05-01"}, "end_date is set but start_date is empty"),
        (
            {"start_date": "2026-5-1", "end_date": "2026-05-02"},
            "start_date '2026-5-1' is not written YYYY-MM-DD",
        ),
        (
            {"start_date": "2026-05-01", "end_date": "05/02/2026"},
            "end_date '05/02/2026' is not written YYYY-MM-DD",
        ),
        ({"start_date": "20260501", "end_date": "2026-05-02"}, "not written YYYY-MM-DD: use e.g. 2026-05-03"),
        ({"start_date": "2026-05-01T00:00", "end_date": "2026-05-02"}, "not written YYYY-MM-DD"),
        (
            {"start_date": "2026-02-30", "end_date": "2026-05-02"},
            "start_date '2026-02-30' is not a valid date",
        ),
        ({"start_date": 20260501, "end_date": "2026-05-02"}, "start_date must be a date written YYYY-MM-DD"),
        (
            {"start_date": datetime(2026, 5, 1, tzinfo=UTC), "end_date": "2026-05-02"},
            "start_date must be a date",
        ),
        (
            {"start_date": "2026-05-03", "end_date": "2026-05-01"},
            r"start_date 2026-05-03 is after end_date 2026-05-01: swap them \(start_date=2026-05-01",
        ),
        (
            {"start_date": "2026-05-01", "end_date": "2026-05-04"},
            r"end_date 2026-05-04 is after 2026-05-03, the last complete day of this run"
            r".*use end_date <= 2026-05-03",
        ),
        (
            {"start_date": "2025-03-29", "end_date": "2026-05-03"},
            "2025-03-29..2026-05-03 is 401 days, more than the 400 allowed in one run: split it.*"
            "start_date=2025-03-29 end_date=2026-05-02",
        ),
    ],
)
def test_bad_backfill_params_are_rejected_with_a_fix(params, message):
    with pytest.raises(ValueError, match=message):
        analytics.parse_backfill_range(params, latest_allowed=LATEST)


def test_backfill_before_the_earliest_allowed_day_is_rejected():
    with pytest.raises(
        ValueError, match=r"start_date 2025-04-30 is before 2025-05-01.*use start_date >= 2025-05-01"
    ):
        analytics.parse_backfill_range(
            {"start_date": "2025-04-30", "end_date": "2025-05-02"},
            latest_allowed=LATEST,
            earliest_allowed=date(2025, 5, 1),
        )


def run_backfill(conn, params: dict, log) -> dict | None:
    """What the backfill task does: validate first, then write."""
    days = analytics.parse_backfill_range(params, latest_allowed=LATEST, max_days=10)
    if days is None:
        return None
    return analytics.backfill(conn, days, COMPUTED_AT, log=log)


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "2026-04-27"},
        {"start_date": "2026-04-27", "end_date": "2026-13-01"},
        {"start_date": "2026-05-03", "end_date": "2026-04-27"},
        {"start_date": "2026-04-27", "end_date": "2026-05-04"},
        {"start_date": "2026-04-01", "end_date": "2026-05-03"},
    ],
)
def test_rejected_params_write_no_row(seed: Seed, db, params):
    seed_week(seed, random.Random(3))
    lines: list[str] = []
    with pytest.raises(ValueError):
        run_backfill(db, params, lines.append)
    assert lines == []
    assert count_rows(db) == 0


# --- backfill ----------------------------------------------------------------------------------


def test_backfill_over_a_range_logs_each_day_and_returns_totals(seed: Seed, db):
    seed_week(seed, random.Random(11))
    expected = recompute(db, COMPUTED_AT)
    per_day = {day: sum(1 for r in expected if r[2] == day) for day in WEEK}
    lines: list[str] = []
    totals = run_backfill(db, {"start_date": "2026-04-27", "end_date": "2026-05-03"}, lines.append)
    assert lines == [
        f"day {i}/7: {day.isoformat()}, {per_day[day]} campaign rows" for i, day in enumerate(WEEK, 1)
    ]
    assert totals == {
        "days": 7,
        "campaign_rows": len(expected),
        "rows_deleted": 0,
        "days_without_sends": 1,
        "first_day": "2026-04-27",
        "last_day": "2026-05-03",
    }
    assert stored(db) == expected
    # A second backfill over the same range changes nothing.
    again = run_backfill(db, {"start_date": "2026-04-27", "end_date": "2026-05-03"}, lines.append)
    assert again == totals
    assert stored(db) == expected


def test_backfill_commits_each_day_and_says_where_to_resume(seed: Seed, db):
    org = seed.org()
    camp = seed.campaign(org)
    for day in WEEK[:3]:
        seed.send(seed.lead(org), camp, sent_at=at(day, 10))
    lines: list[str] = []
    days = [WEEK[0], WEEK[1], datetime(2026, 4, 29, tzinfo=UTC)]  # the third is not a date
    with pytest.raises(TypeError):
        analytics.backfill(db, days, COMPUTED_AT, log=lines.append)
    assert lines[:2] == ["day 1/3: 2026-04-27, 1 campaign rows", "day 2/3: 2026-04-28, 1 campaign rows"]
    assert "resume with start_date=2026-04-29" in lines[2]
    assert [r[2] for r in stored(db)] == [WEEK[0], WEEK[1]]


def test_backfill_logs_removed_stale_rows(seed: Seed, db):
    org = seed.org()
    camp, other = seed.campaign(org), seed.campaign(org)
    seed.send(seed.lead(org), camp, sent_at=at(WEEK[0], 10))
    seed.analytics(other, WEEK[0])  # written by the old updater; the campaign sent nothing that day
    lines: list[str] = []
    totals = analytics.backfill(db, [WEEK[0]], COMPUTED_AT, log=lines.append)
    assert lines == ["day 1/1: 2026-04-27, 1 campaign rows, 1 stale rows removed"]
    assert (totals["campaign_rows"], totals["rows_deleted"]) == (1, 1)
    assert [r[1] for r in stored(db)] == [camp]


def test_backfill_refuses_a_connection_with_an_open_transaction(leads_db):
    import psycopg

    with psycopg.connect(leads_db) as conn:
        conn.execute("SELECT 1")
        with pytest.raises(ValueError, match="without an open transaction"):
            analytics.backfill(conn, [WEEK[0]], COMPUTED_AT, log=lambda _line: None)


# --- missing_analytics_days --------------------------------------------------------------------


def test_missing_analytics_days_then_fill_them_with_the_rollup(seed: Seed, db):
    seed_week(seed, random.Random(5))
    last = WEEK[-1]
    sending_days = [d for d in WEEK if d != QUIET_DAY]
    assert analytics.missing_analytics_days(db, WEEK[0], last) == sending_days
    assert analytics.missing_analytics_days(db, WEEK[2], WEEK[4]) == [WEEK[2], WEEK[4]]

    analytics.rollup_day(db, WEEK[0], COMPUTED_AT)
    # One campaign row of WEEK[1] exists, another is missing: the day is still missing.
    analytics.rollup_day(db, WEEK[1], COMPUTED_AT)
    with db.cursor() as cur:
        cur.execute(
            "DELETE FROM campaign_analytics WHERE id = "
            "(SELECT MIN(id) FROM campaign_analytics WHERE analytics_date = %s)",
            (WEEK[1],),
        )
    missing = analytics.missing_analytics_days(db, WEEK[0], last)
    assert missing == [d for d in sending_days if d != WEEK[0]]

    for day in missing:  # what the daily health check does with them
        analytics.rollup_day(db, day, COMPUTED_AT)
    assert analytics.missing_analytics_days(db, WEEK[0], last) == []
    assert stored(db) == recompute(db, COMPUTED_AT)
    window = {"lookback_start": WEEK[0], "day": last}
    assert nodb.fetch_one(db, "checks/daily/measure_analytics_freshness.sql", window)["missing_days"] == 0


def test_missing_analytics_days_rejects_a_reversed_window(db):
    with pytest.raises(ValueError, match="lookback_start 2026-05-03 is after day 2026-04-27"):
        analytics.missing_analytics_days(db, WEEK[-1], WEEK[0])
