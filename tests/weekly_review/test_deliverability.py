"""SendGrid deliverability reconciliation (runbook 7 "Check SendGrid deliverability stats"): the
database's counts from seeded rows (real PostgreSQL) against SendGrid's stats fetched from the
stand-in over HTTP; one case per discrepancy kind, with exact figures and the likely cause."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from dev.fake_sendgrid import metrics
from nurture_ops.core.catalog import SENDGRID_DELIVERABILITY, Threshold
from nurture_ops.integrations import sendgrid
from nurture_ops.weekly_review import deliverability, report
from tests.builders import at, utc

RUN = utc("2026-06-01 07:00")  # reviews 2026-05-25 .. 2026-05-31
DAY = "2026-05-27"
T = at(DAY, 10, 0)
# What SendGrid counted of the seeded day, when nothing was lost.
CONSISTENT = {
    "requests": 46,
    "delivered": 40,
    "bounces": 3,
    "blocks": 2,
    "bounce_drops": 1,
    "spam_reports": 1,
    "unique_opens": 15,
    "unique_clicks": 5,
    "unsubscribes": 1,
}


@pytest.fixture
def seeded(seed):
    """DAY: 40 sends delivered (15 opened, 5 clicked, 1 unsubscribe, 1 spam report, one delivered
    event delivered twice), 6 bounced (3 bounces, 2 blocked, 1 dropped), 3 failed (never handed to
    SendGrid); one sent the day before and one after the review (outside it)."""
    org = seed.org("Acme Corp")
    campaign = seed.campaign(org, "Welcome series")
    lead = seed.lead(org)
    ids: dict[str, list[int]] = {"sent": [], "bounced": []}
    for i in range(40):
        when = T + timedelta(minutes=i)
        send = seed.send(lead, campaign, status="sent", sent_at=when)
        ids["sent"].append(send)
        seed.event(send, "delivered", at=when + timedelta(seconds=5))
        if i < 15:
            seed.event(send, "open", at=when + timedelta(minutes=30))
        if i < 5:
            seed.event(send, "click", at=when + timedelta(minutes=31))
    seed.event(ids["sent"][2], "delivered", at=T + timedelta(minutes=2, seconds=5))  # a webhook retry
    seed.event(ids["sent"][0], "unsubscribe", at=T + timedelta(hours=1))
    seed.event(ids["sent"][1], "spamreport", at=T + timedelta(hours=1))
    for i, (kind, payload) in enumerate(
        [("bounce", {"type": "bounce"})] * 3 + [("bounce", {"type": "blocked"})] * 2 + [("dropped", {})]
    ):
        when = T + timedelta(hours=2, minutes=i)
        send = seed.send(lead, campaign, status="bounced", sent_at=when)
        ids["bounced"].append(send)
        seed.event(send, kind, at=when + timedelta(seconds=30), payload=payload)
    for i in range(3):
        seed.send(
            lead, campaign, status="failed", sent_at=T + timedelta(hours=3, minutes=i), failure_reason="401"
        )
    seed.send(lead, campaign, status="sent", sent_at=utc("2026-05-24 23:59"))  # before the review
    seed.send(lead, campaign, status="sent", sent_at=utc("2026-06-01 00:00"))  # after it (half-open)
    return ids


def reconciled(conn, fake, stats: dict, check=SENDGRID_DELIVERABILITY) -> dict:
    fake.stats = {DAY: metrics(**stats)}
    first, last = deliverability.review_days(RUN)
    theirs = sendgrid.daily_stats(sendgrid.client(), first, last)  # over HTTP, from the stand-in
    return deliverability.review(conn, theirs, check, first=first, last=last)


def test_the_review_covers_the_seven_days_before_the_run():
    assert deliverability.review_days(RUN) == (utc("2026-05-25 00:00").date(), utc("2026-05-31 00:00").date())


def test_database_counts_of_the_seeded_day(db, seeded):
    counts = deliverability.database_counts(db, *deliverability.review_days(RUN))

    assert list(counts) == [f"2026-05-{d}" for d in range(25, 32)]
    assert counts[DAY] == {
        "sent": 46,
        "bounced_sends": 6,
        "delivered": 40,
        "bounce": 3,
        "blocked": 2,
        "dropped": 1,
        "spamreport": 1,
        "open": 15,
        "click": 5,
        "unsubscribe": 1,
    }
    assert set(counts["2026-05-31"].values()) == {0}


def test_consistent_stats_reconcile(db, seeded, fake_sendgrid):
    result = reconciled(db, fake_sendgrid, CONSISTENT)

    assert result["available"] is True
    assert result["discrepancies"] == [] and result["gap_percent"] == 0.0
    assert result["days"] == 7 and result["comparisons"] == 70 and result["tolerance_percent"] == 2.0
    # 1 spam report of 40 delivered: 2.5 %, past the 0.3 % alert level.
    assert result["spam"] == {
        "spam_reports": 1,
        "delivered": 40,
        "spam_report_rate": 2.5,
        "target": 0.1,
        "alert": 0.3,
        "status": "critical",
    }


DROPPING = "the events webhook (Event Tracker) is dropping"
MORE = "more {} events recorded than SendGrid counted"
CASES = {
    "sent: SendGrid accepted more": (
        {"requests": 50},
        None,
        [("sent", 46, 50, -4, 8.0, "SendGrid accepted emails the database does not record as sent")],
    ),
    "sent: recorded, never handed over": (
        {"requests": 44},
        None,
        [("sent", 46, 44, 2, 4.35, "sends recorded but never handed to SendGrid")],
    ),
    "bounced: not marked bounced": (
        {},
        "blocked",
        [("bounced", 5, 6, -1, 16.67, "SendGrid bounced emails the database still records as sent")],
    ),
    "delivered events dropped": (
        {"delivered": 43},
        None,
        [("delivered", 40, 43, -3, 6.98, f"{DROPPING} delivered")],
    ),
    "delivered events over": (
        {"delivered": 39},
        None,
        [("delivered", 40, 39, 1, 2.5, MORE.format("delivered"))],
    ),
    "bounce events dropped": (
        {"bounces": 4},
        None,
        [
            ("bounce", 3, 4, -1, 25.0, f"{DROPPING} bounce"),
            ("bounced", 6, 7, -1, 14.29, "SendGrid bounced emails the database still records as sent"),
        ],
    ),
    "blocked events over": (
        {"blocks": 1},
        None,
        [
            ("blocked", 2, 1, 1, 50.0, MORE.format("blocked")),
            ("bounced", 6, 5, 1, 16.67, "sends marked bounced that SendGrid did not bounce"),
        ],
    ),
    "dropped events dropped": (
        {"bounce_drops": 3},
        None,
        [
            ("dropped", 1, 3, -2, 66.67, f"{DROPPING} dropped"),
            ("bounced", 6, 8, -2, 25.0, "SendGrid bounced emails the database still records as sent"),
        ],
    ),
    "spam reports dropped": (
        {"spam_reports": 3},
        None,
        [("spamreport", 1, 3, -2, 66.67, f"{DROPPING} spamreport")],
    ),
    "opens over": ({"unique_opens": 14}, None, [("open", 15, 14, 1, 6.67, MORE.format("open"))]),
    "clicks dropped": ({"unique_clicks": 7}, None, [("click", 5, 7, -2, 28.57, f"{DROPPING} click")]),
    "unsubscribes dropped": (
        {"unsubscribes": 2},
        None,
        [("unsubscribe", 1, 2, -1, 50.0, f"{DROPPING} unsubscribe")],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_discrepancy_kind_is_found_with_its_cause(db, seeded, fake_sendgrid, case):
    changed, unmark, expected = CASES[case]
    if unmark:  # the Event Tracker did not mark this bounce: the send still reads 'sent'
        db.execute("UPDATE email_sends SET send_status = 'sent' WHERE id = %s", (seeded["bounced"][3],))

    result = reconciled(db, fake_sendgrid, {**CONSISTENT, **changed})

    found = [
        (d["kind"], d["ours"], d["sendgrid"], d["difference"], d["gap_percent"], d["likely_cause"])
        for d in result["discrepancies"]
    ]
    assert [f[:5] for f in found] == [e[:5] for e in expected]
    for (*_, cause), (*_, prefix) in zip(found, expected, strict=True):
        assert cause.startswith(prefix), cause
    assert {d["day"] for d in result["discrepancies"]} == {DAY}
    assert result["days_with_gaps"] == 1 and result["gap_percent"] == expected[0][4]


def test_the_tolerance_comes_from_the_settings(db, seeded, fake_sendgrid):
    looser = replace(
        SENDGRID_DELIVERABILITY,
        thresholds=(Threshold("gap_percent", "above", alert=5.0), SENDGRID_DELIVERABILITY.thresholds[1]),
    )

    assert len(reconciled(db, fake_sendgrid, {**CONSISTENT, "requests": 47})["discrepancies"]) == 1  # 2.13 %
    assert reconciled(db, fake_sendgrid, {**CONSISTENT, "requests": 47}, looser)["discrepancies"] == []


def test_spam_kpi_levels():
    check = SENDGRID_DELIVERABILITY
    status = [
        deliverability.spam_kpi({"d": {"spam_reports": n, "delivered": 10_000}}, check)["status"]
        for n in (9, 10, 11, 30, 31)
    ]
    assert status == ["ok", "ok", "warning", "warning", "critical"]
    assert deliverability.spam_kpi({}, check)["status"] == "no_data"


def test_report_section_names_the_discrepancy_and_its_cause(db, seeded, fake_sendgrid):
    result = reconciled(db, fake_sendgrid, {**CONSISTENT, "delivered": 43})

    section = report.deliverability_text(result)
    sections, summary = report.weekly_report(
        {report.DELIVERABILITY_PART: result}, week=deliverability_week(), database={"ok": True}
    )

    assert ":warning: 1 discrepancy past the 2.0% tolerance on 1 day of 7" in section
    assert ":x: Spam reports: 1 of 43 delivered = 2.326% (keep &lt; 0.1%, alert at 0.3%" in section
    assert (
        "• :warning: 2026-05-27 delivered events: database 40 vs SendGrid 43 (delivered), -3 (6.98%). "
        "Likely cause: the events webhook (Event Tracker) is dropping delivered events"
    ) in section
    assert summary.startswith(
        "SendGrid stats differ from the database on 1 day; spam reports 2.326% of delivered"
    )
    assert section in sections


def test_report_section_when_not_configured_or_failed():
    for reason in ("not configured: the Airflow connection 'sendgrid_api' is not defined", "API failed: 503"):
        result = {"available": False, "reason": reason, "first_day": "2026-05-25", "last_day": "2026-05-31"}
        assert f":information_source: Not checked: {reason}" in report.deliverability_text(result)
    _, summary = report.weekly_report(
        {report.DELIVERABILITY_PART: {"available": False, "reason": "API failed: 503"}},
        week=deliverability_week(),
    )
    assert summary.startswith("SendGrid deliverability not checked (stats API failed); ")


def deliverability_week():
    from nurture_ops.core.windows import week_window

    return week_window(RUN)


@pytest.mark.e2e
def test_weekly_review_finds_the_planted_discrepancy(run_dag, db, seeded, fake_sendgrid, slack_sink):
    """The demo's setup: the stand-in's stats counted from the database (dev.fake_sendgrid, an
    independent count), one day planted; the review finds that one and nothing else."""
    from dev.fake_sendgrid import plant_discrepancy, stats_from_database

    fake_sendgrid.stats = stats_from_database(db, *deliverability.review_days(RUN))
    assert plant_discrepancy(fake_sendgrid.stats, DAY) == 5

    states = run_dag("nurture_weekly_review", RUN)

    assert states["sendgrid_deliverability"] == "success" and states["weekly_summary"] == "success"
    (review,) = [p for p in slack_sink.payloads() if p["text"].startswith("[INFO] Weekly review")]
    assert "SendGrid stats differ from the database on 1 day" in review["text"]
    text = "\n".join(b["text"]["text"] for b in review["blocks"] if b["type"] == "section")
    assert ":warning: 1 discrepancy past the 2.0% tolerance on 1 day of 7" in text
    assert "2026-05-27 delivered events: database 40 vs SendGrid 45 (delivered), -5 (11.11%)" in text
