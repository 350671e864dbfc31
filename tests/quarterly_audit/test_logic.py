"""The quarterly audit against the real PostgreSQL: capacity projection and schema readiness."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from nurture_ops.quarterly_audit.capacity import capacity_review
from nurture_ops.quarterly_audit.schema import expected_schema, schema_readiness
from tests.builders import utc

QUARTER_START = utc("2026-07-01 00:00")
AS_OF = utc("2026-09-30 00:00")  # 91 days: first week ends 07-08, 84 days before as_of


SCHEMA_FILES = Path(__file__).resolve().parents[2] / "include" / "sql" / "schema"


def _seed_growth(rows) -> None:
    early, late = utc("2026-06-01 00:00"), utc("2026-08-15 00:00")
    org = rows.org(created_at=early)
    for _ in range(2):
        rows.org(created_at=early)
    for _ in range(3):
        rows.org(created_at=late)  # organizations: 3 -> 6
    camp = rows.campaign(org)

    june, august = utc("2026-06-15 00:00"), utc("2026-08-20 00:00")
    for _ in range(4):
        rows.enrollment(org, camp, created_at=june)
    for _ in range(2):  # active in the first week, completed since
        rows.enrollment(org, camp, created_at=june, status="completed", completed_at=utc("2026-08-01 00:00"))
    rows.enrollment(org, camp, created_at=june, status="completed")  # no completed_at: no history
    rows.enrollment(org, camp, created_at=june, status="paused")
    for _ in range(6):
        rows.enrollment(org, camp, created_at=august)  # active: 6 (estimate) -> 10

    lead = rows.lead(org)

    def sent(at, n=1):
        for _ in range(n):
            rows.send(org, camp, due=at, sent_at=at, lead=lead)

    sent(utc("2026-07-03 12:00"), 70)  # first week: 10 a day
    for days_ago, count in enumerate([35, 15, 15, 15, 20, 20, 19]):  # last week: 140, 20 a day
        sent(AS_OF - timedelta(days=days_ago, hours=1), count)
    sent(AS_OF - timedelta(days=7))  # the window's first instant: the 140th, in the 7th day
    sent(AS_OF)  # as_of itself: outside
    rows.send(org, camp, due=utc("2026-09-29 10:00"), status="queued", lead=lead)  # never sent


def test_capacity_review_projects_when_each_limit_is_reached(rows):
    _seed_growth(rows)
    limits = {"active_enrollments": 20, "emails_per_day": 50, "organizations": 8}

    result = capacity_review(rows.conn, as_of=AS_OF, quarter_start=QUARTER_START, limits=limits)

    assert result["growth_span_days"] == 84.0
    metrics = result["metrics"]
    enrollments = metrics["active_enrollments"]
    assert (enrollments["current"], enrollments["first_week"], enrollments["last_week"]) == (10, 6, 10)
    assert enrollments["growth_per_day"] == round(4 / 84, 3)
    assert enrollments["growth_percent_over_quarter"] == 66.7
    assert enrollments["percent_of_limit"] == 50.0
    assert enrollments["days_to_limit"] == 210.0  # (20 - 10) / (4 / 84)
    assert enrollments["projected_limit_date"] == "2027-04-28"
    assert enrollments["status"] == "plan"
    assert enrollments["scaling"] == ["database", "n8n"]

    emails = metrics["emails_per_day"]
    assert (emails["current"], emails["first_week"], emails["last_week"]) == (20, 10, 20)
    assert emails["busiest_day"] == 35
    assert emails["busiest_day_percent_of_limit"] == 70.0
    assert emails["percent_of_limit"] == 40.0
    assert emails["days_to_limit"] == 252.0  # (50 - 20) / (10 / 84)
    assert emails["projected_limit_date"] == "2027-06-09"
    assert emails["status"] == "plan"
    assert emails["scaling"] == ["sendgrid", "n8n"]

    orgs = metrics["organizations"]
    assert (orgs["current"], orgs["first_week"]) == (6, 3)
    assert orgs["percent_of_limit"] == 75.0
    assert orgs["days_to_limit"] == 56.0  # (8 - 6) / (3 / 84): within the quarter
    assert orgs["projected_limit_date"] == "2026-11-25"
    assert orgs["status"] == "act"

    assert result["status"] == "act"
    assert sorted(result["scaling"]) == ["database", "n8n", "sendgrid"]
    assert result["scaling"]["sendgrid"] == {
        "section": "Scale SendGrid",
        "trigger": "Hitting rate limits or want to send > 100K/day",
        "actions": [
            "Upgrade SendGrid plan",
            "Implement multiple API keys",
            "Load balance across keys",
            "Consider dedicated IP addresses",
        ],
    }

    # With the runbook's own limits the same growth is far away: no date within 100 years for
    # emails, a date for organizations (94 more at 3 per 84 days: 2,632 days).
    runbook = capacity_review(rows.conn, as_of=AS_OF, quarter_start=QUARTER_START)
    assert runbook["metrics"]["emails_per_day"]["limit"] == 100_000
    assert runbook["metrics"]["emails_per_day"]["percent_of_limit"] == 0.02
    assert runbook["metrics"]["emails_per_day"]["projected_limit_date"] is None
    assert runbook["metrics"]["organizations"]["projected_limit_date"] == "2033-12-14"
    assert runbook["metrics"]["organizations"]["status"] == "ok"
    assert runbook["status"] == "ok" and runbook["scaling"] == {}

    over = capacity_review(rows.conn, as_of=AS_OF, quarter_start=QUARTER_START, limits={"organizations": 6})
    assert over["metrics"]["organizations"]["status"] == "over_limit"
    assert over["metrics"]["organizations"]["projected_limit_date"] == "2026-09-30"
    assert over["status"] == "over_limit"


def test_capacity_review_without_growth_projects_nothing(rows):
    result = capacity_review(rows.conn, as_of=AS_OF, quarter_start=QUARTER_START)

    for metric in result["metrics"].values():
        assert metric["current"] == 0 and metric["growth_per_day"] == 0
        assert metric["projected_limit_date"] is None and metric["status"] == "ok"
    assert result["status"] == "ok"


# -- Schema readiness -------------------------------------------------------------------------------


def test_schema_readiness_on_a_complete_database(db):
    result = schema_readiness(db)

    assert result["ready"] is True
    assert result["schema_files"] == [
        "010_create_lead_nurture.sql",
        "020_create_lead_nurture_indexes.sql",
        "030_add_window_indexes.sql",
    ]
    assert result["tables"] == {"expected": 10, "missing": []}
    index_statements = sum(
        len(re.findall(r"CREATE INDEX (?:CONCURRENTLY )?IF NOT EXISTS", path.read_text()))
        for path in sorted(SCHEMA_FILES.glob("*.sql"))
    )
    assert result["indexes"] == {"expected": index_statements, "missing": [], "invalid": []}
    assert result["constraints"] == {"expected": 26, "missing": [], "not_validated": []}
    assert result["columns"]["missing"] == [] and result["columns"]["not_null_missing"] == []


def test_schema_readiness_reports_what_is_missing(db):
    db.execute("DROP INDEX email_sends_created_covering_idx")

    result = schema_readiness(db)

    assert result["ready"] is False
    assert result["indexes"]["missing"] == ["email_sends_created_covering_idx (on email_sends)"]
    assert result["tables"]["missing"] == [] and result["constraints"]["missing"] == []

    db.execute("DROP TABLE lead_preferences")
    db.execute("ALTER TABLE email_events DROP CONSTRAINT email_events_email_send_id_fkey")
    db.execute("ALTER TABLE workflow_errors DROP COLUMN node_name")
    db.execute("ALTER TABLE leads ALTER COLUMN metadata DROP NOT NULL")
    db.execute("ALTER TABLE email_sends DROP CONSTRAINT email_sends_bounce_type_check")
    db.execute(
        "UPDATE pg_index SET indisvalid = FALSE WHERE indexrelid = 'email_events_event_hash_idx'::regclass"
    )

    result = schema_readiness(db)

    assert result["tables"]["missing"] == ["lead_preferences"]
    assert result["columns"]["missing"] == ["workflow_errors.node_name"]
    assert result["columns"]["not_null_missing"] == ["leads.metadata NOT NULL"]
    assert result["constraints"]["missing"] == [
        "email_sends: CHECK (bounce_type)",
        "email_events: FOREIGN KEY (email_send_id) REFERENCES email_sends",
    ]
    assert result["indexes"]["missing"] == ["email_sends_created_covering_idx (on email_sends)"]
    assert result["indexes"]["invalid"] == ["email_events_event_hash_idx (on email_events)"]


def test_expected_schema_parses_the_tricky_parts(tmp_path):
    schema = tmp_path / "030_extra.sql"
    schema.write_text(
        """
        -- CREATE TABLE commented_out (id int);
        /* CREATE INDEX block_commented ON x (y); */
        CREATE TABLE IF NOT EXISTS nurture_ops."Alert State" (
            alert_key text NOT NULL DEFAULT 'a;b(c', -- a semicolon and a parenthesis in a string
            unique_opens integer,
            check_count integer CHECK (check_count >= 0),
            scope text,
            CONSTRAINT alert_state_pk PRIMARY KEY (alert_key, scope),
            UNIQUE NULLS NOT DISTINCT (scope, unique_opens)
        );
        CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS alert_state_scope_idx
            ON ONLY nurture_ops."Alert State" USING btree (scope);
        ALTER TABLE IF EXISTS leads ADD COLUMN IF NOT EXISTS score numeric NOT NULL DEFAULT 0,
            ADD CONSTRAINT leads_score_check CHECK (score >= 0);
        CREATE OR REPLACE VIEW active_leads AS SELECT * FROM leads WHERE score > 0;
        CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ CREATE TABLE nope (id int); SELECT 1 $$;
        """
    )

    expected = expected_schema([schema])

    assert expected["schema_files"] == ["030_extra.sql"]
    assert expected["tables"] == [
        {
            "schema": "nurture_ops",
            "name": "Alert State",
            "kind": "table",
            "columns": ["alert_key", "unique_opens", "check_count", "scope"],
            "not_null": ["alert_key"],
        },
        {"schema": None, "name": "leads", "kind": "table", "columns": ["score"], "not_null": ["score"]},
        {"schema": None, "name": "active_leads", "kind": "view", "columns": [], "not_null": []},
    ]
    assert expected["indexes"] == [
        {"name": "alert_state_scope_idx", "schema": "nurture_ops", "table": "Alert State"}
    ]
    assert [(c["table"], c["type"], c["columns"], c["name"]) for c in expected["constraints"]] == [
        ("Alert State", "c", ["check_count"], None),
        ("Alert State", "p", ["alert_key", "scope"], "alert_state_pk"),
        ("Alert State", "u", ["scope", "unique_opens"], None),
        ("leads", "c", [], "leads_score_check"),
    ]


def test_expected_schema_forgets_an_index_a_later_file_drops(tmp_path):
    first, later = tmp_path / "020_indexes.sql", tmp_path / "030_window.sql"
    first.write_text(
        "CREATE INDEX IF NOT EXISTS old_idx ON email_sends (created_at);\n"
        "CREATE INDEX IF NOT EXISTS kept_idx ON email_sends (lead_id);\n"
    )
    later.write_text(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS new_idx ON email_sends (created_at) INCLUDE (send_status);\n"
        "ALTER TABLE email_sends SET (autovacuum_vacuum_insert_scale_factor = 0);\n"
        "DROP INDEX CONCURRENTLY IF EXISTS old_idx;\n"
    )

    expected = expected_schema([first, later])

    assert [i["name"] for i in expected["indexes"]] == ["kept_idx", "new_idx"]
    assert expected["tables"] == [
        {"schema": None, "name": "email_sends", "kind": "table", "columns": [], "not_null": []}
    ]
