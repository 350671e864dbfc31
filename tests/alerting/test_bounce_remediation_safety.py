"""The daily bounce fix (invalidate_hard_bounce_leads) does not undo a human's fix, and its cap
bounds what it changes, not only what it counts.

A hard bounce counts against a lead only when its send went out at or after the lead's last
recorded reset (leads.metadata.email_valid_since) and, when the bounce event names the address
(email_events.payload.email), to the lead's current address. The run changes only the rows it
counted, each re-checked under a row lock at the time of the change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg

from nurture_ops.alerting import remediation
from nurture_ops.alerting.remediation import RunInfo
from nurture_ops.core import db as nodb
from nurture_ops.core.catalog import HIGH_BOUNCE_RATE, REMEDIATIONS
from nurture_ops.core.evaluate import evaluate
from nurture_ops.core.windows import day_bounds
from tests.builders import Seed, utc

KEY = "invalidate_hard_bounce_leads"
SPEC = REMEDIATIONS[KEY]
RUN_AT = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)  # the daily run of 2026-05-04
DAY = date(2026, 5, 3)  # the day it measures
OLD_BOUNCE = utc("2024-03-10 10:00")  # the bounce of the lead's old address
RESET = "2026-04-01T09:00:00+00:00"  # when ops fixed the lead (new address, flag reset)
RESET_AT = utc("2026-04-01 09:00")
AFTER_RESET = utc("2026-05-03 10:00")


def run_info(at: datetime = RUN_AT) -> RunInfo:
    return RunInfo("nurture_daily_health", "scheduled__test", "high_bounce_rate.remediate", at)


def run_fix(dsn: str, *, mode: str = "apply", max_rows: int = 5000, at: datetime = RUN_AT) -> dict:
    """The runner as the DAG's task calls it: on a connection that is not in autocommit mode.

    lock_timeout: a run must never wait for a lead someone else is changing."""
    with psycopg.connect(dsn, options="-c lock_timeout=2000") as conn:
        return remediation.invalidate_hard_bounce_leads(
            conn,
            SPEC,
            mode=mode,
            max_rows=max_rows,
            run=run_info(at),
            reason="High Bounce Rate: test",
            alert_key=HIGH_BOUNCE_RATE.key,
        )


def hard_bounce(seed: Seed, lead: int, campaign: int, sent_at: datetime, *, to: str | None = None) -> int:
    """A hard-bounced send; `to`: its SendGrid bounce event, naming the address that bounced."""
    send = seed.send(lead, campaign, status="bounced", bounce_type="hard", sent_at=sent_at)
    if to is not None:
        seed.event(
            send, "bounce", at=sent_at + timedelta(seconds=40), payload={"email": to, "type": "bounce"}
        )
    return send


def soft_bounce(seed: Seed, lead: int, campaign: int, sent_at: datetime) -> int:
    return seed.send(lead, campaign, status="bounced", bounce_type="soft", sent_at=sent_at)


def metadata(db, lead: int) -> dict:
    return db.execute("SELECT metadata FROM leads WHERE id = %s", (lead,)).fetchone()[0]


def is_invalid(db, lead: int) -> bool:
    return metadata(db, lead).get("email_invalid") is True


def enrollment(db, enrollment_id: int) -> tuple:
    return db.execute(
        "SELECT status, completion_reason FROM lead_campaign_enrollments WHERE id = %s", (enrollment_id,)
    ).fetchone()


def audit_rows(db) -> list[tuple]:
    return db.execute(
        "SELECT mode, outcome, rows_counted, rows_changed FROM nurture_ops.remediation_audit "
        "WHERE remediation_key = %s ORDER BY id",
        (KEY,),
    ).fetchall()


def changed_by_run(db, at: datetime = RUN_AT) -> tuple[set[int], set[int]]:
    """(lead ids, enrollment ids) the run at `at` changed, read back from the rows themselves."""
    leads = db.execute(
        "SELECT id FROM leads WHERE updated_at = %s AND metadata ->> 'email_invalid' = 'true'", (at,)
    ).fetchall()
    enrollments = db.execute(
        "SELECT id FROM lead_campaign_enrollments WHERE completed_at = %s AND completion_reason = 'invalid_email'",
        (at,),
    ).fetchall()
    return {r[0] for r in leads}, {r[0] for r in enrollments}


def measure_day(db, day: date = DAY) -> dict:
    window = day_bounds(day)
    return nodb.fetch_one(
        db, "checks/daily/measure_bounce_rate.sql", {"day_start": window.start, "day_end": window.end}
    )


# --- (a) a recorded reset is not undone; a bounce after it counts -------------------------------


def test_a_reset_after_an_old_bounce_is_not_undone_and_a_bounce_after_it_counts(seed: Seed, db, leads_db):
    org = seed.org("Acme")
    old_campaign, new_campaign = seed.campaign(org), seed.campaign(org)
    # Its only hard bounce is from 2024; ops gave it a new address on 2026-04-01, reset the flag,
    # recorded the reset and enrolled it again.
    fixed = seed.lead(
        org, email="jane.new@example.test", metadata={"email_invalid": False, "email_valid_since": RESET}
    )
    hard_bounce(seed, fixed, old_campaign, OLD_BOUNCE)
    fixed_old = seed.enrollment(
        fixed,
        old_campaign,
        status="completed",
        completion_reason="invalid_email",
        created_at=utc("2024-01-02 00:00"),
        completed_at=utc("2024-03-11 07:00"),
    )
    fixed_new = seed.enrollment(fixed, new_campaign, created_at=RESET_AT)
    # Fixed the same way (the reset written as JavaScript's toISOString() writes it), but the new
    # address bounces too: that bounce counts.
    rebounced = seed.lead(
        org, metadata={"email_invalid": False, "email_valid_since": "2026-04-01T09:00:00.000Z"}
    )
    hard_bounce(seed, rebounced, old_campaign, OLD_BOUNCE)
    hard_bounce(seed, rebounced, new_campaign, AFTER_RESET)
    rebounced_new = seed.enrollment(rebounced, new_campaign, created_at=RESET_AT)

    result = run_fix(leads_db)

    assert (result["outcome"], result["rows_counted"], result["rows_changed"]) == ("applied", 2, 2)
    assert metadata(db, fixed) == {"email_invalid": False, "email_valid_since": RESET}
    assert enrollment(db, fixed_new) == ("active", None)
    assert enrollment(db, fixed_old) == ("completed", "invalid_email")
    assert metadata(db, rebounced) == {"email_invalid": True, "email_valid_since": "2026-04-01T09:00:00.000Z"}
    assert enrollment(db, rebounced_new) == ("completed", "invalid_email")
    assert changed_by_run(db) == ({rebounced}, {rebounced_new})
    # The next day: nothing to do, the human's fix stands.
    assert run_fix(leads_db, at=RUN_AT + timedelta(days=1))["outcome"] == "nothing_to_change"
    assert not is_invalid(db, fixed)
    assert enrollment(db, fixed_new) == ("active", None)
    assert audit_rows(db) == [("apply", "applied", 2, 2), ("apply", "nothing_to_change", 0, 0)]


def test_the_reset_marker_boundary_and_unreadable_markers(seed: Seed, db, leads_db):
    org = seed.org()
    camp = seed.campaign(org)

    def lead_bounced_at(marker, sent_at: datetime) -> int:
        lead = seed.lead(org, metadata={"email_invalid": False, "email_valid_since": marker})
        hard_bounce(seed, lead, camp, sent_at)
        return lead

    # Valid since the instant the send went out: [email_valid_since, ...) is half-open, it counts.
    at_the_reset = lead_bounced_at(RESET, RESET_AT)
    just_before = lead_bounced_at(RESET, RESET_AT - timedelta(microseconds=1))
    other_offset = lead_bounced_at("2026-04-01T11:00:00+02:00", RESET_AT - timedelta(seconds=1))
    date_only = lead_bounced_at("2026-04-01", utc("2026-03-31 23:59:59"))
    # No reset recorded (key absent or JSON null): every hard bounce counts, as before.
    no_marker = seed.lead(org, metadata={"email_invalid": False})
    hard_bounce(seed, no_marker, camp, OLD_BOUNCE)
    null_marker = lead_bounced_at(None, OLD_BOUNCE)
    # A marker that is no timestamp: a human meant to reset the lead, so it is left alone
    # (never an error for the whole run).
    unreadable = lead_bounced_at("last tuesday", AFTER_RESET)
    number = lead_bounced_at(1775034000, AFTER_RESET)

    result = run_fix(leads_db)

    assert result["rows_changed"] == 3
    assert {lead for lead in (at_the_reset, no_marker, null_marker) if is_invalid(db, lead)} == {
        at_the_reset,
        no_marker,
        null_marker,
    }
    for lead in (just_before, other_offset, date_only, unreadable, number):
        assert not is_invalid(db, lead), lead


def test_reset_lead_email_sql_records_the_reset_the_fix_respects(seed: Seed, db, leads_db):
    """include/sql/remediation/reset_lead_email.sql: what ops run when they fix a lead's address."""
    org = seed.org()
    camp, new_camp = seed.campaign(org), seed.campaign(org)
    lead = seed.lead(org, email="old@example.test", metadata={"source": "import"})
    hard_bounce(seed, lead, camp, utc("2026-04-20 10:00"), to="old@example.test")
    old_enrollment = seed.enrollment(lead, camp)
    assert run_fix(leads_db, at=utc("2026-04-21 07:00"))["rows_changed"] == 2
    assert is_invalid(db, lead) and enrollment(db, old_enrollment) == ("completed", "invalid_email")

    reset_at = utc("2026-05-02 09:30")
    (row,) = nodb.fetch_all(
        db,
        "remediation/reset_lead_email.sql",
        {"lead_id": lead, "email": "new@example.test", "reset_at": reset_at},
    )
    assert row["email"] == "new@example.test"
    assert row["metadata"] == {
        "source": "import",
        "email_invalid": False,
        "email_valid_since": reset_at.isoformat(),
    }
    new_enrollment = seed.enrollment(lead, new_camp, created_at=reset_at)

    assert run_fix(leads_db)["outcome"] == "nothing_to_change"
    assert not is_invalid(db, lead) and enrollment(db, new_enrollment) == ("active", None)

    # The new address bounces as well: that counts.
    hard_bounce(seed, lead, new_camp, utc("2026-05-04 10:00"), to="new@example.test")
    assert run_fix(leads_db, at=RUN_AT + timedelta(days=1))["rows_changed"] == 2
    assert is_invalid(db, lead) and enrollment(db, new_enrollment) == ("completed", "invalid_email")


def test_a_bounce_to_another_address_than_the_current_one_does_not_count(seed: Seed, db, leads_db):
    """Resets made before email_valid_since existed: the bounce event names the old address."""
    org = seed.org()
    camp = seed.campaign(org)
    moved = seed.lead(org, email="new@example.test", metadata={"email_invalid": False})
    hard_bounce(seed, moved, camp, OLD_BOUNCE, to="old@example.test")
    moved_enrollment = seed.enrollment(moved, camp, created_at=RESET_AT)
    dropped = seed.lead(org, email="new2@example.test")
    send = hard_bounce(seed, dropped, camp, OLD_BOUNCE)
    seed.event(
        send, "dropped", at=OLD_BOUNCE, payload={"email": "old2@example.test", "reason": "Bounced Address"}
    )
    # The same address (SendGrid lower-cases it): counts. No address in the event, or no event: counts.
    same = seed.lead(org, email=" Jane.Doe@Example.test")
    hard_bounce(seed, same, camp, AFTER_RESET, to="jane.doe@example.test")
    unnamed = seed.lead(org)
    send = hard_bounce(seed, unnamed, camp, AFTER_RESET)
    seed.event(send, "bounce", at=AFTER_RESET, payload={"type": "bounce"})
    no_event = seed.lead(org)
    hard_bounce(seed, no_event, camp, AFTER_RESET)

    result = run_fix(leads_db)

    assert result["rows_changed"] == 3
    assert [lead for lead in (moved, dropped, same, unnamed, no_event) if is_invalid(db, lead)] == [
        same,
        unnamed,
        no_event,
    ]
    assert enrollment(db, moved_enrollment) == ("active", None)


# --- (b) soft bounces never count -------------------------------------------------------------


def test_b_soft_bounces_never_count_not_even_after_a_reset(seed: Seed, db, leads_db):
    org = seed.org()
    camp = seed.campaign(org)
    soft_only = seed.lead(org)
    for days in (1, 3, 4):
        soft_bounce(seed, soft_only, camp, AFTER_RESET - timedelta(days=days))
    soft_enrollment = seed.enrollment(soft_only, camp)
    # Hard bounce of the old address before the reset; only soft ones (SendGrid 'blocked') since.
    reset_soft = seed.lead(org, metadata={"email_invalid": False, "email_valid_since": RESET})
    hard_bounce(seed, reset_soft, camp, OLD_BOUNCE)
    soft_bounce(seed, reset_soft, camp, AFTER_RESET)
    soft_bounce(seed, reset_soft, camp, AFTER_RESET - timedelta(days=2))
    reset_enrollment = seed.enrollment(reset_soft, camp, created_at=RESET_AT)
    hard = seed.lead(org)
    hard_bounce(seed, hard, camp, AFTER_RESET)

    assert measure_day(db)["hard_bounce_leads_to_invalidate"] == 1
    result = run_fix(leads_db)

    assert (result["rows_counted"], result["rows_changed"]) == (1, 1)
    assert [lead for lead in (soft_only, reset_soft, hard) if is_invalid(db, lead)] == [hard]
    assert enrollment(db, soft_enrollment) == ("active", None)
    assert enrollment(db, reset_enrollment) == ("active", None)


# --- (c) the cap bounds the UPDATE ---------------------------------------------------------------


def test_c_the_cap_bounds_the_update_not_only_the_count(seed: Seed, db, leads_db):
    org = seed.org()
    camp, other = seed.campaign(org), seed.campaign(org)
    counted_leads = []
    counted_enrollments = []
    for _ in range(2):
        lead = seed.lead(org)
        hard_bounce(seed, lead, camp, AFTER_RESET)
        counted_leads.append(lead)
        counted_enrollments.append(seed.enrollment(lead, camp))
    marked_earlier = seed.lead(org, metadata={"email_invalid": True})
    max_rows = 4  # 2 leads + their 2 enrollments: exactly at the cap
    arrived: dict[str, list[int]] = {"leads": [], "enrollments": []}

    def arrive() -> None:
        """Committed by another connection after the count, before the change."""
        for _ in range(3):
            lead = seed.lead(org)
            hard_bounce(seed, lead, camp, AFTER_RESET + timedelta(hours=12))
            arrived["leads"].append(lead)
            arrived["enrollments"].append(seed.enrollment(lead, camp))
        arrived["enrollments"].append(seed.enrollment(counted_leads[0], other))
        arrived["enrollments"].append(seed.enrollment(marked_earlier, other))

    fix = remediation.HardBounceFix(max_rows=max_rows, changed_at=RUN_AT)

    def apply_after_arrivals(conn) -> int:
        arrive()
        return fix.apply(conn)

    with psycopg.connect(leads_db) as conn:
        result = remediation.guarded(
            conn,
            SPEC,
            mode="apply",
            max_rows=max_rows,
            count=fix.count,
            apply=apply_after_arrivals,
            recheck=fix.recheck,
            reason="High Bounce Rate: test",
            run=run_info(),
            alert_key=HIGH_BOUNCE_RATE.key,
        )

    leads, enrollments = changed_by_run(db)
    assert leads == set(counted_leads)
    assert enrollments == set(counted_enrollments)
    assert len(leads) + len(enrollments) <= max_rows
    assert (result["outcome"], result["rows_counted"], result["rows_changed"]) == ("applied", 4, 4)
    assert audit_rows(db) == [("apply", "applied", 4, 4)]
    for lead in arrived["leads"]:
        assert not is_invalid(db, lead)
    for enrollment_id in arrived["enrollments"]:
        assert enrollment(db, enrollment_id) == ("active", None)
    assert result["recheck"].endswith("left to do: 3 leads, 5 enrollments")

    # What arrived is the next run's: counted and changed then.
    later = RUN_AT + timedelta(days=1)
    assert run_fix(leads_db, at=later)["rows_changed"] == 8
    assert changed_by_run(db, later) == (set(arrived["leads"]), set(arrived["enrollments"]))


def test_c_over_the_cap_nothing_changes_and_the_runner_counts_leads_and_enrollments(seed: Seed, db, leads_db):
    org = seed.org()
    camp = seed.campaign(org)
    for _ in range(3):
        lead = seed.lead(org)
        hard_bounce(seed, lead, camp, AFTER_RESET)
        seed.enrollment(lead, camp)
    assert run_fix(leads_db, max_rows=5)["outcome"] == "over_cap"
    assert run_fix(leads_db, mode="dry_run", max_rows=6)["outcome"] == "dry_run"
    assert run_fix(leads_db, mode="off", max_rows=6)["outcome"] == "off"
    assert changed_by_run(db) == (set(), set())
    assert run_fix(leads_db, max_rows=6)["rows_changed"] == 6
    assert [row[1:] for row in audit_rows(db)] == [
        ("over_cap", 6, 0),
        ("dry_run", 6, 0),
        ("off", None, 0),
        ("applied", 6, 6),
    ]


def test_a_lead_being_fixed_during_the_run_is_skipped_not_overwritten(seed: Seed, db, leads_db):
    org = seed.org()
    camp = seed.campaign(org)
    being_fixed = seed.lead(org, email="old@example.test")
    hard_bounce(seed, being_fixed, camp, AFTER_RESET)
    being_fixed_enrollment = seed.enrollment(being_fixed, camp)
    fixed_meanwhile = seed.lead(org, email="old2@example.test")
    hard_bounce(seed, fixed_meanwhile, camp, AFTER_RESET)
    fixed_meanwhile_enrollment = seed.enrollment(fixed_meanwhile, camp)
    # Marked invalid earlier, its enrollment still open (counted for completion).
    marked_being_fixed = seed.lead(org, metadata={"email_invalid": True})
    marked_being_fixed_enrollment = seed.enrollment(marked_being_fixed, camp)
    plain = seed.lead(org)
    hard_bounce(seed, plain, camp, AFTER_RESET)
    reset = {"email": "new@example.test", "reset_at": RUN_AT}

    # Ops are fixing `being_fixed` and `marked_being_fixed` right now: their transaction holds the
    # rows, not yet committed.
    with psycopg.connect(leads_db) as human:
        for lead in (being_fixed, marked_being_fixed):
            nodb.fetch_all(human, "remediation/reset_lead_email.sql", {**reset, "lead_id": lead})

        fix = remediation.HardBounceFix(max_rows=5000, changed_at=RUN_AT)

        def apply_after_a_reset(conn) -> int:
            # ... and `fixed_meanwhile` was fixed (committed) after the count, before the change.
            nodb.fetch_all(db, "remediation/reset_lead_email.sql", {**reset, "lead_id": fixed_meanwhile})
            return fix.apply(conn)

        with psycopg.connect(leads_db, options="-c lock_timeout=2000") as conn:
            result = remediation.guarded(
                conn,
                SPEC,
                mode="apply",
                max_rows=5000,
                count=fix.count,
                apply=apply_after_a_reset,
                recheck=fix.recheck,
                reason="High Bounce Rate: test",
                run=run_info(),
                alert_key=HIGH_BOUNCE_RATE.key,
            )
        human.commit()

    assert (result["rows_counted"], result["rows_changed"]) == (6, 1)
    assert changed_by_run(db) == ({plain}, set())
    assert "5 counted rows skipped" in result["recheck"]
    for lead, enrollment_id in (
        (being_fixed, being_fixed_enrollment),
        (fixed_meanwhile, fixed_meanwhile_enrollment),
        (marked_being_fixed, marked_being_fixed_enrollment),
    ):
        assert metadata(db, lead) == {"email_invalid": False, "email_valid_since": RUN_AT.isoformat()}
        assert enrollment(db, enrollment_id) == ("active", None)
    assert audit_rows(db) == [("apply", "applied", 6, 1)]


# --- (d) the daily metric counts what the fix changes -----------------------------------------


def test_d_the_daily_metric_counts_what_the_fix_would_change(seed: Seed, db, leads_db):
    org = seed.org("Acme")
    camp, new_camp = seed.campaign(org), seed.campaign(org)
    for i in range(6):
        seed.send(seed.lead(org), camp, sent_at=utc("2026-05-03 08:00") + timedelta(minutes=i))
    fixed = seed.lead(org, metadata={"email_invalid": False, "email_valid_since": RESET})
    hard_bounce(seed, fixed, camp, OLD_BOUNCE)
    seed.enrollment(fixed, new_camp, created_at=RESET_AT)
    moved = seed.lead(org, email="new@example.test", metadata={"email_invalid": False})
    hard_bounce(seed, moved, camp, OLD_BOUNCE, to="old@example.test")
    seed.enrollment(moved, new_camp, created_at=RESET_AT)
    rebounced = seed.lead(org, metadata={"email_invalid": False, "email_valid_since": RESET})
    hard_bounce(seed, rebounced, camp, OLD_BOUNCE)
    hard_bounce(seed, rebounced, new_camp, AFTER_RESET)
    seed.enrollment(rebounced, new_camp, created_at=RESET_AT)
    hard = seed.lead(org)
    hard_bounce(seed, hard, camp, AFTER_RESET)
    seed.enrollment(hard, camp)
    seed.enrollment(hard, new_camp, status="paused")
    soft = seed.lead(org)
    soft_bounce(seed, soft, camp, AFTER_RESET)
    seed.enrollment(soft, camp)
    marked = seed.lead(org, metadata={"email_invalid": True})
    seed.enrollment(marked, camp)

    row = measure_day(db)
    finding = evaluate(HIGH_BOUNCE_RATE, row)
    assert (row["hard_bounce_leads_to_invalidate"], row["active_enrollments_of_invalid_leads"]) == (2, 4)
    assert "2 hard-bounced leads not yet marked invalid" in finding.summary
    assert nodb.fetch_one(db, "remediation/count_hard_bounce_leads.sql", {}) == {
        "leads_to_invalidate": 2,
        "enrollments_to_complete": 4,
    }

    result = run_fix(leads_db)

    leads, enrollments = changed_by_run(db)
    assert leads == {rebounced, hard}
    assert len(leads) == row["hard_bounce_leads_to_invalidate"]
    assert len(enrollments) == row["active_enrollments_of_invalid_leads"]
    assert result["rows_counted"] == result["rows_changed"] == 6
    after = measure_day(db)
    assert (after["hard_bounce_leads_to_invalidate"], after["active_enrollments_of_invalid_leads"]) == (0, 0)
