"""include/sql/remediation/*bounce* and *invalid_email*: hard bounces only, idempotent, counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from psycopg.rows import dict_row

from nurture_ops.core import db as nodb
from tests.builders import BASE_TIME, Seed
from tests.daily_health.test_measures import DAY, day_params, measure, seed_bounces

CHANGED_AT = datetime(2026, 5, 4, 6, 30, tzinfo=UTC)


def lead_state(conn, lead_id: int) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT metadata, updated_at FROM leads WHERE id = %s", (lead_id,))
        return cur.fetchone()


def enrollment_state(conn, enrollment_id: int) -> tuple:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT status, completion_reason, completed_at, updated_at "
            "FROM lead_campaign_enrollments WHERE id = %s",
            (enrollment_id,),
        )
        return cur.fetchone()


def count(conn) -> dict:
    return nodb.fetch_one(conn, "remediation/count_hard_bounce_leads.sql", {})


def mark(conn, changed_at=CHANGED_AT) -> list[int]:
    return sorted(
        r["id"]
        for r in nodb.fetch_all(
            conn, "remediation/mark_hard_bounce_leads_invalid.sql", {"changed_at": changed_at}
        )
    )


def complete(conn, changed_at=CHANGED_AT) -> list[dict]:
    return nodb.fetch_all(
        conn, "remediation/complete_invalid_email_enrollments.sql", {"changed_at": changed_at}
    )


def test_bounce_remediation_touches_hard_bounces_only(seed: Seed, db):
    data = seed_bounces(seed)
    leads, enrollments = data["leads"], data["enrollments"]
    assert count(db) == {"leads_to_invalidate": 2, "enrollments_to_complete": 4}

    assert mark(db) == sorted([leads["hard1"], leads["hard2"]])
    for name in ("hard1", "hard2"):
        assert lead_state(db, leads[name]) == {"metadata": {"email_invalid": True}, "updated_at": CHANGED_AT}
    # Soft bounces (SendGrid 'blocked') never invalidate; the already marked lead keeps its
    # metadata and updated_at.
    assert lead_state(db, leads["soft"]) == {"metadata": {}, "updated_at": BASE_TIME}
    assert lead_state(db, leads["fine"]) == {"metadata": {}, "updated_at": BASE_TIME}
    assert lead_state(db, leads["marked"]) == {
        "metadata": {"email_invalid": True, "source": "import"},
        "updated_at": BASE_TIME,
    }
    assert count(db) == {"leads_to_invalidate": 0, "enrollments_to_complete": 4}

    completed = complete(db)
    assert sorted(r["id"] for r in completed) == sorted(
        enrollments[k] for k in ("hard1_active", "hard1_paused", "marked_active", "marked_no_bounce_active")
    )
    assert {r["lead_id"] for r in completed} == {leads["hard1"], leads["marked"], leads["marked_no_bounce"]}
    for key in ("hard1_active", "hard1_paused", "marked_active", "marked_no_bounce_active"):
        assert enrollment_state(db, enrollments[key]) == (
            "completed",
            "invalid_email",
            CHANGED_AT,
            CHANGED_AT,
        )
    # Already completed for another reason: left as it was. Other leads: still active.
    assert enrollment_state(db, enrollments["hard2_completed"]) == ("completed", "finished", None, BASE_TIME)
    assert enrollment_state(db, enrollments["soft_active"]) == ("active", None, None, BASE_TIME)
    assert enrollment_state(db, enrollments["fine_active"]) == ("active", None, None, BASE_TIME)

    assert count(db) == {"leads_to_invalidate": 0, "enrollments_to_complete": 0}
    row = measure(db, "measure_bounce_rate", **day_params(DAY))
    assert (row["hard_bounce_leads_to_invalidate"], row["active_enrollments_of_invalid_leads"]) == (0, 0)


def test_bounce_remediation_is_idempotent(seed: Seed, db):
    data = seed_bounces(seed)
    assert len(mark(db)) == 2
    assert len(complete(db)) == 4
    later = CHANGED_AT + timedelta(days=1)
    assert mark(db, later) == []
    assert complete(db, later) == []
    # The second run wrote nothing, not even a timestamp.
    assert lead_state(db, data["leads"]["hard1"])["updated_at"] == CHANGED_AT
    assert enrollment_state(db, data["enrollments"]["hard1_active"])[2] == CHANGED_AT


def test_marking_keeps_other_metadata_and_handles_a_false_flag(seed: Seed, db):
    org = seed.org()
    camp = seed.campaign(org)
    lead = seed.lead(org, metadata={"source": "web", "email_invalid": False})
    seed.send(lead, camp, status="bounced", bounce_type="hard", sent_at=BASE_TIME)
    assert count(db)["leads_to_invalidate"] == 1
    assert mark(db) == [lead]
    assert lead_state(db, lead)["metadata"] == {"source": "web", "email_invalid": True}
    with db.cursor() as cur:
        cur.execute("SELECT metadata ->> 'email_invalid' FROM leads WHERE id = %s", (lead,))
        assert cur.fetchone()[0] == "true"


def test_nothing_to_do_on_an_empty_database(db):
    assert count(db) == {"leads_to_invalidate": 0, "enrollments_to_complete": 0}
    assert mark(db) == []
    assert complete(db) == []
