"""include/sql/checks/daily/measure_*.sql against a real PostgreSQL: one row, exact numbers."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from nurture_ops.core import db as nodb
from nurture_ops.core.windows import day_bounds
from tests.builders import Seed, at

DAY = date(2026, 5, 3)
PREV = DAY - timedelta(days=1)
NEXT = DAY + timedelta(days=1)
EMPTY_DAY = date(2026, 6, 1)
SCHEDULER = "Lead Nurture - Message Scheduler"
SENDER = "Lead Nurture - Email Sender"


def measure(conn, name: str, **params) -> dict:
    rows = nodb.fetch_all(conn, f"checks/daily/{name}.sql", params)
    assert len(rows) == 1, f"{name} must return exactly one row, got {len(rows)}"
    return rows[0]


def day_params(day: date, **extra) -> dict:
    window = day_bounds(day)
    return {"day_start": window.start, "day_end": window.end, **extra}


def metrics(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "details"}


def D(value: str) -> Decimal:
    return Decimal(value)


# --- 1.1 send volume ---------------------------------------------------------------------------


def test_send_volume_counts_the_day_on_created_at(seed: Seed, db):
    org = seed.org("Acme")
    camp = seed.campaign(org)
    lead = seed.lead(org)

    def send(status, created, delay_s=None):
        sent = created + timedelta(seconds=delay_s) if delay_s is not None else None
        seed.send(lead, camp, status=status, created_at=created, scheduled_at=created, sent_at=sent)

    # The bad day: 5 created in [DAY 00:00, NEXT 00:00), one of them failed, one still queued.
    send("sent", at(DAY, 0, 0, 0), 10)
    send("sent", at(DAY, 12), 20)
    send("sent", at(DAY, 23, 59, 59), 30)  # created in the day, sent after midnight: still the day's
    send("failed", at(DAY, 13), 60)
    send("queued", at(DAY, 14))
    # Neighbours that must not leak in.
    send("failed", at(PREV, 23, 59, 59), 5)
    send("failed", at(NEXT, 0, 0, 0), 5)
    # The previous day: two good sends plus the 23:59:59 failure.
    send("sent", at(PREV, 9), 1)
    send("sent", at(PREV, 10), 3)

    assert measure(db, "measure_send_volume", **day_params(DAY)) == {
        "emails_sent": 5,
        "successful": 3,
        "failed": 1,
        "bounced": 0,
        "queued": 1,
        "failure_rate": D("20.00"),
        "avg_delay_seconds": D("30"),  # (10 + 20 + 30 + 60) / 4; the queued one has no delay
    }
    assert measure(db, "measure_send_volume", **day_params(PREV)) == {
        "emails_sent": 3,
        "successful": 2,
        "failed": 1,
        "bounced": 0,
        "queued": 0,
        "failure_rate": D("33.33"),
        "avg_delay_seconds": D("3"),
    }


def test_send_volume_of_a_day_without_sends_is_no_data(db):
    assert measure(db, "measure_send_volume", **day_params(EMPTY_DAY)) == {
        "emails_sent": 0,
        "successful": 0,
        "failed": 0,
        "bounced": 0,
        "queued": 0,
        "failure_rate": None,
        "avg_delay_seconds": None,
    }


# --- 1.2 active enrollments --------------------------------------------------------------------


def test_active_enrollments_overdue_and_due_soon_at_the_run_time(seed: Seed, db):
    as_of = at(DAY, 12)
    org_a, org_b = seed.org("Acme"), seed.org("Beta")
    camp_a, camp_b = seed.campaign(org_a), seed.campaign(org_b)

    def enroll(camp, org, next_send_at, status="active"):
        seed.enrollment(seed.lead(org), camp, next_send_at=next_send_at, status=status)

    enroll(camp_a, org_a, as_of - timedelta(hours=2))  # overdue by 120 minutes
    enroll(camp_a, org_a, as_of)  # due exactly now: overdue (<=)
    enroll(camp_b, org_b, as_of - timedelta(minutes=30))  # overdue
    enroll(camp_a, org_a, as_of + timedelta(minutes=30))  # due soon
    enroll(camp_a, org_a, as_of + timedelta(hours=1))  # due soon (boundary included)
    enroll(camp_a, org_a, as_of + timedelta(hours=2))  # later
    enroll(camp_b, org_b, None)  # active without a next send
    enroll(camp_b, org_b, as_of - timedelta(days=3), status="paused")  # not active
    enroll(camp_b, org_b, as_of - timedelta(days=3), status="completed")  # not active

    row = measure(db, "measure_active_enrollments", as_of=as_of)
    assert metrics(row) == {
        "active_enrollments": 7,
        "overdue": 3,
        "due_soon": 5,
        "max_overdue_minutes": D("120"),
    }
    assert [(d["organization_name"], d["overdue"]) for d in row["details"]] == [("Acme", 2), ("Beta", 1)]
    assert row["details"][0]["oldest_next_send_at"].startswith("2026-05-03T10:00:00")

    # Three hours earlier, nothing was overdue yet: the good case.
    early = measure(db, "measure_active_enrollments", as_of=as_of - timedelta(hours=3))
    assert metrics(early) == {
        "active_enrollments": 7,
        "overdue": 0,
        "due_soon": 1,
        "max_overdue_minutes": None,
    }
    assert early["details"] == []


def test_active_enrollments_without_enrollments(db):
    row = measure(db, "measure_active_enrollments", as_of=at(DAY, 12))
    assert row == {
        "active_enrollments": 0,
        "overdue": 0,
        "due_soon": 0,
        "max_overdue_minutes": None,
        "details": [],
    }


# --- 1.3 workflow errors -----------------------------------------------------------------------


def test_workflow_errors_of_the_day_per_workflow(seed: Seed, db):
    seed.workflow_error(SCHEDULER, at=at(DAY, 10), message="a")
    seed.workflow_error(SCHEDULER, at=at(DAY, 11), message="b", node_name="Fetch due")
    seed.workflow_error(SENDER, at=at(DAY, 0, 0, 0), message="first")
    seed.workflow_error(SENDER, at=at(DAY, 9, 30), message="middle")
    seed.workflow_error(SENDER, at=at(DAY, 23, 59, 59), message="late", node_name="SendGrid")
    seed.workflow_error(SENDER, at=at(NEXT, 0, 0, 0), message="tomorrow")
    seed.workflow_error(SENDER, at=at(PREV, 23, 59, 59), message="yesterday")

    row = measure(db, "measure_workflow_errors", **day_params(DAY))
    assert metrics(row) == {"error_count": 5, "workflows_with_errors": 2}
    assert [
        (
            d["workflow_name"],
            d["error_count"],
            d["last_error"][:19],
            d["last_error_message"],
            d["last_node_name"],
        )
        for d in row["details"]
    ] == [
        (SENDER, 3, "2026-05-03T23:59:59", "late", "SendGrid"),
        (SCHEDULER, 2, "2026-05-03T11:00:00", "b", "Fetch due"),
    ]

    clean = measure(db, "measure_workflow_errors", **day_params(DAY + timedelta(days=2)))
    assert clean == {"error_count": 0, "workflows_with_errors": 0, "details": []}


# --- KPI table ---------------------------------------------------------------------------------


def seed_kpi_day(seed: Seed) -> dict:
    """The bad day of the KPI tests; returns the ids the other tests reuse."""
    org = seed.org("Acme")
    camp_a, camp_b = seed.campaign(org, "A"), seed.campaign(org, "B")
    l1, l2, l3, l4, l5, l6 = (seed.lead(org) for _ in range(6))
    t = at(DAY, 10)
    seed.send(l1, camp_a, sent_at=t, opened_at=t, first_click_at=t)
    seed.send(l2, camp_a, sent_at=at(DAY, 0, 0, 0), opened_at=t)
    s3 = seed.send(l3, camp_a, sent_at=t)
    seed.send(l4, camp_a, status="bounced", bounce_type="hard", sent_at=t)
    seed.send(l5, camp_a, status="failed", sent_at=t, failure_reason="rejected")
    seed.send(l1, camp_b, sent_at=t, opened_at=t, first_click_at=t)  # same lead, other campaign: counts
    seed.send(l1, camp_b, sent_at=at(DAY, 23, 59, 59), opened_at=t)  # same lead, same campaign: once
    s8 = seed.send(l6, camp_b, sent_at=t)
    # Not in the day: sent at the next midnight / the previous second; never attempted.
    seed.send(l2, camp_b, sent_at=at(NEXT, 0, 0, 0), opened_at=at(NEXT, 1))
    s10 = seed.send(l3, camp_b, sent_at=at(PREV, 23, 59, 59))
    seed.send(l4, camp_b, status="queued", created_at=at(DAY, 8))
    # Unsubscribes: s3 twice (SendGrid retry: one), s10 (sent the day before, unsubscribed today),
    # s8 after midnight (tomorrow's); an open event is not an unsubscribe.
    seed.event(s3, "unsubscribe", at=at(DAY, 15))
    seed.event(s3, "unsubscribe", at=at(DAY, 15, 1))
    seed.event(s10, "group_unsubscribe", at=at(DAY, 16))
    seed.event(s8, "unsubscribe", at=at(NEXT, 0, 0, 0))
    seed.event(s8, "open", at=at(DAY, 11))
    for hour, status in ((1, "success"), (2, "success"), (3, "error"), (4, "success")):
        seed.execution(SCHEDULER, status=status, at=at(DAY, hour))
    seed.execution(SCHEDULER, status="error", at=at(NEXT, 0, 0, 0))
    seed.execution(SENDER, at=at(DAY, 1))
    seed.execution(SENDER, at=at(DAY, 23, 59, 59))
    seed.execution("Lead Nurture - Analytics Updater", status="error", at=at(DAY, 5))
    return {"org": org, "campaigns": (camp_a, camp_b)}


def kpis(conn, day: date) -> dict:
    return measure(
        conn, "measure_kpis", **day_params(day, workflow_scheduler=SCHEDULER, workflow_sender=SENDER)
    )


def test_kpis_of_a_bad_day(seed: Seed, db):
    seed_kpi_day(seed)
    assert kpis(db, DAY) == {
        "emails_sent": 8,
        "delivered": 6,
        "failed": 1,
        "bounced": 1,
        "unique_opens": 3,
        "unique_clicks": 2,
        "unsubscribes": 2,
        "delivery_rate": D("75.00"),
        "open_rate": D("37.50"),
        "click_rate": D("25.00"),
        "unsubscribe_rate": D("25.00"),
        "bounce_rate": D("12.50"),
        "scheduler_runs": 4,
        "scheduler_success_rate": D("75.00"),
        "sender_runs": 2,
        "sender_success_rate": D("100.00"),
    }


def test_kpis_of_a_good_day(seed: Seed, db):
    org = seed.org()
    camp = seed.campaign(org)
    for i in range(10):
        t = at(DAY, 9, i)
        seed.send(
            seed.lead(org),
            camp,
            sent_at=t,
            opened_at=t if i < 4 else None,
            first_click_at=t if i < 1 else None,
        )
    for hour in range(24):
        seed.execution(SCHEDULER, at=at(DAY, hour))
        seed.execution(SENDER, at=at(DAY, hour, 30))
    assert kpis(db, DAY) == {
        "emails_sent": 10,
        "delivered": 10,
        "failed": 0,
        "bounced": 0,
        "unique_opens": 4,
        "unique_clicks": 1,
        "unsubscribes": 0,
        "delivery_rate": D("100.00"),
        "open_rate": D("40.00"),
        "click_rate": D("10.00"),
        "unsubscribe_rate": D("0.00"),
        "bounce_rate": D("0.00"),
        "scheduler_runs": 24,
        "scheduler_success_rate": D("100.00"),
        "sender_runs": 24,
        "sender_success_rate": D("100.00"),
    }


def test_kpis_of_a_day_without_sends_or_runs_are_no_data(db):
    assert kpis(db, EMPTY_DAY) == {
        "emails_sent": 0,
        "delivered": 0,
        "failed": 0,
        "bounced": 0,
        "unique_opens": 0,
        "unique_clicks": 0,
        "unsubscribes": 0,
        "delivery_rate": None,
        "open_rate": None,
        "click_rate": None,
        "unsubscribe_rate": None,
        "bounce_rate": None,
        "scheduler_runs": 0,
        "scheduler_success_rate": None,
        "sender_runs": 0,
        "sender_success_rate": None,
    }


# --- Low engagement ----------------------------------------------------------------------------


def test_low_engagement_lists_campaigns_below_either_threshold(seed: Seed, db):
    acme, beta = seed.org("Acme"), seed.org("Beta")
    c1 = seed.campaign(acme, "Low opens")
    c2 = seed.campaign(acme, "Low clicks")
    c3 = seed.campaign(beta, "Healthy")
    c4 = seed.campaign(beta, "Both low")
    c5 = seed.campaign(beta, "No rates")
    seed.analytics(c1, DAY, open_rate=15, click_rate=5, emails_sent=40)
    seed.analytics(c2, DAY, open_rate=30, click_rate=1.5)
    seed.analytics(c3, DAY, open_rate=40, click_rate=6)
    seed.analytics(c4, DAY, open_rate=10, click_rate=1)
    seed.analytics(c5, DAY, open_rate=None, click_rate=None, emails_sent=0)
    seed.analytics(c3, PREV, open_rate=5, click_rate=0)  # another day

    row = measure(db, "measure_low_engagement", day=DAY, open_rate_alert=20, click_rate_alert=2)
    assert metrics(row) == {"campaigns_measured": 5, "campaigns_below": 3}
    assert row["details"] == [
        {
            "campaign_id": c4,
            "campaign_name": "Both low",
            "organization_id": str(beta),
            "organization_name": "Beta",
            "emails_sent": 10,
            "open_rate": 10.00,
            "click_rate": 1.00,
        },
        {
            "campaign_id": c1,
            "campaign_name": "Low opens",
            "organization_id": str(acme),
            "organization_name": "Acme",
            "emails_sent": 40,
            "open_rate": 15.00,
            "click_rate": 5.00,
        },
        {
            "campaign_id": c2,
            "campaign_name": "Low clicks",
            "organization_id": str(acme),
            "organization_name": "Acme",
            "emails_sent": 10,
            "open_rate": 30.00,
            "click_rate": 1.50,
        },
    ]
    # The thresholds are values the caller binds, not literals of the SQL.
    stricter = measure(db, "measure_low_engagement", day=DAY, open_rate_alert=12, click_rate_alert=0.5)
    assert stricter["campaigns_below"] == 1
    assert [d["campaign_id"] for d in stricter["details"]] == [c4]
    good = measure(db, "measure_low_engagement", day=PREV, open_rate_alert=4, click_rate_alert=0)
    assert good == {"campaigns_measured": 1, "campaigns_below": 0, "details": []}


def test_low_engagement_of_a_day_without_analytics_is_no_data(db):
    row = measure(db, "measure_low_engagement", day=EMPTY_DAY, open_rate_alert=20, click_rate_alert=2)
    assert row == {"campaigns_measured": 0, "campaigns_below": None, "details": []}


def test_low_engagement_caps_details_at_ten_worst_first(seed: Seed, db):
    org = seed.org()
    camps = [seed.campaign(org) for _ in range(12)]
    for i, camp in enumerate(camps):
        seed.analytics(camp, DAY, open_rate=i, click_rate=1)
    row = measure(db, "measure_low_engagement", day=DAY, open_rate_alert=20, click_rate_alert=2)
    assert row["campaigns_below"] == 12
    assert [d["campaign_id"] for d in row["details"]] == camps[:10]


# --- High unsubscribe rate ---------------------------------------------------------------------


def test_unsubscribe_rate_per_campaign(seed: Seed, db):
    org = seed.org("Acme")
    camp_a, camp_b, camp_c = seed.campaign(org, "A"), seed.campaign(org, "B"), seed.campaign(org, "C")
    lead = seed.lead(org)
    sends_a = [seed.send(lead, camp_a, sent_at=at(DAY, 9, i)) for i in range(4)]
    sends_b = [seed.send(lead, camp_b, sent_at=at(DAY, 10, i)) for i in range(2)]
    old_c = seed.send(lead, camp_c, sent_at=at(PREV, 10))
    seed.event(sends_a[0], "unsubscribe", at=at(DAY, 12))
    seed.event(sends_a[0], "unsubscribe", at=at(DAY, 12, 0, 5))  # duplicate webhook
    seed.event(sends_a[1], "unsubscribe", at=at(DAY, 23, 59, 59))
    seed.event(sends_b[0], "group_unsubscribe", at=at(DAY, 0, 0, 0))
    seed.event(old_c, "unsubscribe", at=at(DAY, 8))  # C sent nothing today
    seed.event(sends_b[1], "unsubscribe", at=at(NEXT, 0, 0, 0))  # tomorrow's
    seed.event(sends_a[2], "click", at=at(DAY, 13))
    # A good previous day: 10 sends (C's and 9 more), no unsubscribe on it.
    for i in range(9):
        seed.send(lead, camp_b, sent_at=at(PREV, 11, i))

    row = measure(db, "measure_unsubscribe_rate", **day_params(DAY))
    assert metrics(row) == {"unsubscribes": 4, "emails_sent": 6, "unsubscribe_rate": D("66.67")}
    assert [
        (
            d["campaign_name"],
            d["organization_name"],
            d["unsubscribes"],
            d["emails_sent"],
            d["unsubscribe_rate"],
        )
        for d in row["details"]
    ] == [("A", "Acme", 2, 4, 50.0), ("B", "Acme", 1, 2, 50.0), ("C", "Acme", 1, 0, None)]

    good = measure(db, "measure_unsubscribe_rate", **day_params(PREV))
    assert good == {"unsubscribes": 0, "emails_sent": 10, "unsubscribe_rate": D("0.00"), "details": []}
    empty = measure(db, "measure_unsubscribe_rate", **day_params(EMPTY_DAY))
    assert empty == {"unsubscribes": 0, "emails_sent": 0, "unsubscribe_rate": None, "details": []}


# --- Issue 2: duplicate events -----------------------------------------------------------------


def test_duplicate_events_same_hash_and_missed_by_hash(seed: Seed, db):
    org = seed.org()
    camp = seed.campaign(org)
    send = seed.send(seed.lead(org), camp, sent_at=at(PREV, 9))
    t = at(DAY, 10)
    seed.event(send, "open", at=t, event_hash="h1", sg_event_id="sg-1")
    seed.event(send, "open", at=t, created_at=at(DAY, 10, 1), event_hash="h1", sg_event_id="sg-1")
    seed.event(send, "click", at=t, created_at=at(DAY, 11), event_hash="h2", sg_event_id="sg-2")
    seed.event(send, "click", at=t, created_at=at(DAY, 11, 1), event_hash="h3", sg_event_id="sg-2")
    seed.event(send, "click", at=t, created_at=at(DAY, 11, 2), event_hash=None, sg_event_id="sg-2")
    seed.event(send, "delivered", at=t, created_at=at(DAY, 12), event_hash="h4")
    seed.event(send, "delivered", at=t, created_at=at(DAY, 12, 1), event_hash="h4")
    seed.event(send, "open", at=t, created_at=at(DAY, 23, 59, 59), event_hash="h5", sg_event_id="sg-3")
    seed.event(send, "open", at=t, created_at=at(NEXT, 0, 0, 0), event_hash="h6", sg_event_id="sg-3")
    # A good previous day.
    for i in range(3):
        seed.event(send, "open", at=at(PREV, 10, i), sg_event_id=f"prev-{i}")

    row = measure(db, "measure_duplicate_events", **day_params(DAY))
    assert metrics(row) == {
        "total_events": 8,
        "unique_event_hashes": 5,
        "events_without_hash": 1,
        "duplicate_rows_same_hash": 2,  # second h1, second h4
        "duplicate_rows_missed_by_hash": 2,  # sg-2 stored under h2, h3 and no hash
    }
    assert [
        (d["kind"], d["sg_event_id"], d["event_hash"], d["row_count"], d["distinct_hashes"], d["event_type"])
        for d in row["details"]
    ] == [
        ("missed_by_hash", "sg-2", "h2", 3, 3, "click"),
        ("same_hash", "sg-1", "h1", 2, 1, "open"),
        ("same_hash", None, "h4", 2, 1, "delivered"),
    ]
    assert row["details"][0]["email_send_id"] == send

    good = measure(db, "measure_duplicate_events", **day_params(PREV))
    assert good == {
        "total_events": 3,
        "unique_event_hashes": 3,
        "events_without_hash": 0,
        "duplicate_rows_same_hash": 0,
        "duplicate_rows_missed_by_hash": 0,
        "details": [],
    }
    empty = measure(db, "measure_duplicate_events", **day_params(EMPTY_DAY))
    assert metrics(empty) == {
        "total_events": 0,
        "unique_event_hashes": 0,
        "events_without_hash": 0,
        "duplicate_rows_same_hash": 0,
        "duplicate_rows_missed_by_hash": 0,
    }


# --- Issue 3: bounce rate ----------------------------------------------------------------------


def seed_bounces(seed: Seed) -> dict:
    org = seed.org("Acme")
    camp = seed.campaign(org)
    hard1, hard2 = seed.lead(org), seed.lead(org)
    soft = seed.lead(org)
    marked = seed.lead(org, metadata={"email_invalid": True, "source": "import"})
    marked_no_bounce = seed.lead(org, metadata={"email_invalid": True})
    fine = seed.lead(org)
    for i in range(6):
        seed.send(fine, camp, sent_at=at(DAY, 8, i))
    seed.send(fine, camp, status="failed", sent_at=at(DAY, 9))
    seed.send(hard1, camp, status="bounced", bounce_type="hard", sent_at=at(DAY, 10))
    seed.send(hard1, camp, status="bounced", bounce_type="hard", sent_at=at(DAY - timedelta(days=10), 10))
    seed.send(hard2, camp, status="bounced", bounce_type="hard", sent_at=at(DAY, 23, 59, 59))
    seed.send(soft, camp, status="bounced", bounce_type="soft", sent_at=at(DAY, 0, 0, 0))
    seed.send(soft, camp, status="bounced", bounce_type="soft", sent_at=at(DAY - timedelta(days=3), 10))
    seed.send(soft, camp, status="bounced", bounce_type="soft", sent_at=at(DAY - timedelta(days=4), 10))
    seed.send(marked, camp, status="bounced", bounce_type="hard", sent_at=at(DAY - timedelta(days=20), 10))
    enrollments = {
        "hard1_active": seed.enrollment(hard1, camp),
        "hard1_paused": seed.enrollment(hard1, seed.campaign(org), status="paused"),
        "hard2_completed": seed.enrollment(hard2, camp, status="completed", completion_reason="finished"),
        "soft_active": seed.enrollment(soft, camp),
        "marked_active": seed.enrollment(marked, camp),
        "marked_no_bounce_active": seed.enrollment(marked_no_bounce, camp),
        "fine_active": seed.enrollment(fine, camp),
    }
    return {
        "org": org,
        "leads": {
            "hard1": hard1,
            "hard2": hard2,
            "soft": soft,
            "marked": marked,
            "marked_no_bounce": marked_no_bounce,
            "fine": fine,
        },
        "enrollments": enrollments,
    }


def test_bounce_rate_of_a_bad_day_with_remediation_backlog(seed: Seed, db):
    data = seed_bounces(seed)
    leads = data["leads"]
    row = measure(db, "measure_bounce_rate", **day_params(DAY))
    assert metrics(row) == {
        "total": 10,
        "bounced": 3,
        "bounce_rate": D("30.00"),
        "hard_bounces": 2,
        "soft_bounces": 1,
        "hard_bounce_leads_to_invalidate": 2,  # hard1, hard2 (marked is already marked)
        # hard1 active + paused, marked, marked_no_bounce; not hard2's completed one, not soft's
        "active_enrollments_of_invalid_leads": 4,
    }
    assert [
        (d["lead_id"], d["bounce_count"], d["hard_bounces"], d["soft_bounces"], d["email_invalid"])
        for d in row["details"]
    ] == [(leads["soft"], 3, 0, 3, False), (leads["hard1"], 2, 2, 0, False)]
    assert row["details"][0]["organization_name"] == "Acme"
    # The remediation's own count agrees with the measure.
    assert nodb.fetch_one(db, "remediation/count_hard_bounce_leads.sql", {}) == {
        "leads_to_invalidate": 2,
        "enrollments_to_complete": 4,
    }


def test_bounce_rate_of_a_good_day_and_an_empty_one(seed: Seed, db):
    org = seed.org()
    camp = seed.campaign(org)
    lead = seed.lead(org)
    for i in range(19):
        seed.send(lead, camp, sent_at=at(DAY, 9, i))
    seed.send(seed.lead(org), camp, status="bounced", bounce_type="soft", sent_at=at(DAY, 10))
    assert measure(db, "measure_bounce_rate", **day_params(DAY)) == {
        "total": 20,
        "bounced": 1,
        "bounce_rate": D("5.00"),
        "hard_bounces": 0,
        "soft_bounces": 1,
        "hard_bounce_leads_to_invalidate": 0,
        "active_enrollments_of_invalid_leads": 0,
        "details": [],
    }
    assert measure(db, "measure_bounce_rate", **day_params(EMPTY_DAY)) == {
        "total": 0,
        "bounced": 0,
        "bounce_rate": None,
        "hard_bounces": 0,
        "soft_bounces": 0,
        "hard_bounce_leads_to_invalidate": 0,
        "active_enrollments_of_invalid_leads": 0,
        "details": [],
    }


# --- Issue 4: missing personalization data -----------------------------------------------------


def test_missing_personalization_counts_enrolled_leads_without_name_or_email(seed: Seed, db):
    acme, beta = seed.org("Acme"), seed.org("Beta")
    camp_a, camp_b, camp_b2 = seed.campaign(acme), seed.campaign(beta), seed.campaign(beta)
    seed.enrollment(seed.lead(acme, name=None), camp_a)
    seed.enrollment(seed.lead(acme, email=None), camp_a)
    seed.enrollment(seed.lead(acme, name="   ", email=None), camp_a)  # blank name, no email
    seed.enrollment(seed.lead(acme, name=None), camp_a, status="completed")  # not active
    seed.lead(acme, name=None)  # not enrolled
    seed.enrollment(seed.lead(acme), camp_a)  # complete data
    blank_email = seed.lead(beta, email="")
    seed.enrollment(blank_email, camp_b)
    seed.enrollment(blank_email, camp_b2)

    row = measure(db, "measure_missing_personalization")
    assert metrics(row) == {
        "leads_missing_data": 4,
        "missing_name": 2,
        "missing_email": 3,
        "active_enrollments_affected": 5,
    }
    assert [
        (d["organization_name"], d["leads"], d["missing_name"], d["missing_email"]) for d in row["details"]
    ] == [("Acme", 3, 2, 2), ("Beta", 1, 0, 1)]


def test_missing_personalization_when_all_data_is_there(seed: Seed, db):
    org = seed.org()
    seed.enrollment(seed.lead(org), seed.campaign(org))
    assert measure(db, "measure_missing_personalization") == {
        "leads_missing_data": 0,
        "missing_name": 0,
        "missing_email": 0,
        "active_enrollments_affected": 0,
        "details": [],
    }


# --- Issue 5: analytics freshness --------------------------------------------------------------


def test_analytics_freshness_finds_days_with_sends_but_no_rows(seed: Seed, db):
    org = seed.org()
    camp_a, camp_b = seed.campaign(org, "A"), seed.campaign(org, "B")
    lead = seed.lead(org)
    lookback = DAY - timedelta(days=6)
    for day, camps in {
        DAY - timedelta(days=6): (camp_a,),
        DAY - timedelta(days=5): (camp_a, camp_b),
        DAY: (camp_a, camp_b),
    }.items():
        for camp in camps:
            seed.send(lead, camp, sent_at=at(day, 23, 59, 59))
    seed.send(lead, camp_b, sent_at=at(lookback - timedelta(days=1), 23, 59, 59))  # before the lookback
    seed.send(lead, camp_b, sent_at=at(NEXT, 0, 0, 0))  # after the checked day
    seed.analytics(camp_a, DAY - timedelta(days=6))
    seed.analytics(camp_a, DAY - timedelta(days=5))
    seed.analytics(camp_a, DAY)

    # Dates must not depend on the session's time zone (UTC+14 here).
    db.execute("SET TIME ZONE 'Pacific/Kiritimati'")
    row = measure(db, "measure_analytics_freshness", lookback_start=lookback, day=DAY)
    assert metrics(row) == {"latest_analytics_date": DAY, "days_behind": 0, "missing_days": 2}
    assert row["details"] == [
        {"analytics_date": "2026-05-03", "campaigns_missing": 1, "campaigns_with_sends": 2},
        {"analytics_date": "2026-04-28", "campaigns_missing": 1, "campaigns_with_sends": 2},
    ]


def test_analytics_freshness_when_up_to_date_or_empty(seed: Seed, db):
    empty = measure(db, "measure_analytics_freshness", lookback_start=DAY - timedelta(days=6), day=DAY)
    assert empty == {"latest_analytics_date": None, "days_behind": None, "missing_days": 0, "details": []}

    org = seed.org()
    camp = seed.campaign(org)
    seed.send(seed.lead(org), camp, sent_at=at(PREV, 10))
    seed.analytics(camp, PREV)
    row = measure(db, "measure_analytics_freshness", lookback_start=DAY - timedelta(days=6), day=DAY)
    # Nothing was sent on DAY, so nothing is missing, but the table is a day behind.
    assert row == {"latest_analytics_date": PREV, "days_behind": 1, "missing_days": 0, "details": []}


@pytest.mark.parametrize(
    "name",
    [
        "measure_send_volume",
        "measure_workflow_errors",
        "measure_unsubscribe_rate",
        "measure_duplicate_events",
        "measure_bounce_rate",
    ],
)
def test_day_measures_return_one_row_on_an_empty_database(db, name):
    row = measure(db, name, **day_params(EMPTY_DAY))
    assert row.get("details", []) == []
