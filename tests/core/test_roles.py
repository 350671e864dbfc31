"""Least privilege: include/sql/roles applied to the real PostgreSQL, and core.db's purpose-based
choice of connection (leads_db_readonly / leads_db_maintenance, falling back to leads_db).

The roles files are applied as the operator would (`psql -v ON_ERROR_STOP=1 --single-transaction
-f ...`), unchanged but for the four group names, which get a suffix unique to the test: roles are
cluster-wide, and parallel test sessions share the server. Login roles are made members of the
groups as the files' header says; every role is dropped after the test.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from dev import pg
from nurture_ops.alerting import state as alert_state
from nurture_ops.alerting.measure import run_measure
from nurture_ops.alerting.remediation import RUNNERS, RunInfo
from nurture_ops.annual_archive.archive import archive_sends_and_events
from nurture_ops.core import analytics, db
from nurture_ops.core.catalog import CHECKS, REMEDIATIONS
from nurture_ops.core.settings import build_settings
from nurture_ops.daily_health.logic import collect
from nurture_ops.monthly_maintenance import indexes
from nurture_ops.monthly_maintenance.cleanup import cleanup_completed_enrollments
from nurture_ops.monthly_maintenance.workflows import review_workflow_errors
from nurture_ops.quarterly_audit import capacity, schema
from nurture_ops.weekly_review import deliverability
from nurture_ops.weekly_review import logic as weekly
from tests.builders import NOW, Seed, seed_enrollments, seed_sends
from tests.conftest import REPO

ROLES_DIR = REPO / "include" / "sql" / "roles"
GROUPS = ("nurture_ops_reader", "nurture_ops_writer", "nurture_ops_maintainer", "nurture_ops_table_owner")
_GROUP_NAME = re.compile(r"\b(" + "|".join(GROUPS) + r")\b")
RUNBOOK_TABLES = weekly.RUNBOOK_TABLES
ARCHIVE_TABLES = ("email_sends_archive", "email_events_archive", "lead_campaign_enrollments_archive")

# The run the reads are made for, and the day before it (what the daily checks look at).
AT = datetime(2026, 5, 2, 6, 0, tzinfo=UTC)
DAY = date(2026, 5, 1)
SENT = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def _psql() -> str | None:
    bundled = pg.bindir() / "psql"
    return str(bundled) if bundled.exists() else shutil.which("psql")


class Roles:
    """The roles SQL for one test database, with unique group names, and login roles in them."""

    def __init__(self, dbname: str, workdir: Path):
        self.dbname = dbname
        self.suffix = f"t{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.group = {name: f"{name}_{self.suffix}" for name in GROUPS}
        self.logins: dict[str, str] = {}
        self._workdir = workdir

    def files(self, upto: str | None = None) -> list[Path]:
        """The shipped files in name order (up to and including the one starting with `upto`),
        copied with this test's group names."""
        out = []
        self._workdir.mkdir(parents=True, exist_ok=True)
        for path in sorted(ROLES_DIR.glob("*.sql")):
            copy = self._workdir / path.name
            copy.write_text(_GROUP_NAME.sub(lambda m: self.group[m.group(1)], path.read_text()))
            out.append(copy)
            if upto is not None and path.name.startswith(upto):
                break
        return out

    def apply(self, upto: str | None = None) -> str:
        """Apply the files as the header says; returns psql's stderr (its NOTICEs)."""
        files = self.files(upto)
        psql = _psql()
        if psql is None:  # no psql binary: the same statements through psycopg, one transaction
            with psycopg.connect(pg.dsn(self.dbname)) as conn:
                for path in files:
                    conn.execute(path.read_text())
            return ""
        command = [
            psql,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "--single-transaction",
            "-d",
            pg.dsn(self.dbname),
        ]
        for path in files:
            command += ["-f", str(path)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stderr

    def login(self, kind: str) -> str:
        """A login role in nurture_ops_<kind> (reader, writer, maintainer), as an operator makes one."""
        if kind not in self.logins:
            name = f"nurture_{kind}_{self.suffix}"
            group = self.group[f"nurture_ops_{kind}"]
            with psycopg.connect(pg.dsn(), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                        sql.Identifier(name), sql.Identifier(group)
                    )
                )
            self.logins[kind] = name
        return self.logins[kind]

    def connect(self, kind: str, **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.dsn(kind), row_factory=dict_row, **kwargs)

    def dsn(self, kind: str) -> str:
        return f"postgresql://{self.login(kind)}@{pg.HOST}:{pg.PORT}/{self.dbname}"

    def connection_json(self, kind: str) -> str:
        return json.dumps(
            {
                "conn_type": "postgres",
                "host": pg.HOST,
                "port": pg.PORT,
                "login": self.login(kind),
                "schema": self.dbname,
            }
        )

    def drop(self) -> None:
        names = [*self.logins.values(), *self.group.values()]
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            existing = [
                r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (names,))
            ]
        if not existing:
            return
        listed = sql.SQL(", ").join(map(sql.Identifier, existing))
        with psycopg.connect(pg.dsn(self.dbname), autocommit=True) as conn:
            conn.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(listed, sql.Identifier(pg.SUPERUSER)))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(listed))
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            for name in existing:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def admin(leads_db):
    """The superuser on the test database, rows as dicts (seeding goes through `db`)."""
    with psycopg.connect(leads_db, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def roles(leads_db, tmp_path):
    handle = Roles(leads_db.rsplit("/", 1)[1], tmp_path / "roles")
    yield handle
    handle.drop()


def _seed_a_day(db_conn) -> dict:
    """A little of everything the checks and reports read, on DAY (and a hard bounce)."""
    seed = Seed(db_conn)
    org = seed.org("Acme")
    campaign = seed.campaign(org, "Welcome")
    lead = seed.lead(org)
    bounced_lead = seed.lead(org)
    seed.preferences(lead, timezone="UTC")
    enrollment = seed.enrollment(lead, campaign, next_send_at=AT + timedelta(hours=1))
    bounced_enrollment = seed.enrollment(bounced_lead, campaign, next_send_at=AT + timedelta(hours=1))
    send = seed.send(lead, campaign, sent_at=SENT, opened_at=SENT + timedelta(minutes=5))
    seed.event(send, "open", at=SENT + timedelta(minutes=5))
    seed.event(send, "unsubscribe", at=SENT + timedelta(minutes=7), payload={"reason": "too many"})
    seed.send(bounced_lead, campaign, sent_at=SENT, status="bounced")
    seed.send(lead, campaign, sent_at=None, status="queued", created_at=SENT)
    seed.execution("Lead Nurture - Message Scheduler", at=SENT, items=10, duration_ms=500)
    seed.workflow_error("Lead Nurture - Email Sender", at=SENT)
    seed.analytics(campaign, DAY - timedelta(days=1))
    return {
        "org": org,
        "campaign": campaign,
        "lead": lead,
        "bounced_lead": bounced_lead,
        "enrollment": enrollment,
        "bounced_enrollment": bounced_enrollment,
    }


def _current_user(conn) -> str:
    return conn.execute("SELECT current_user AS who").fetchone()["who"]


# --------------------------------------------------------------------------- the SQL itself


def test_the_shipped_files_name_the_four_groups_and_say_how_to_apply():
    texts = {p.name: p.read_text() for p in sorted(ROLES_DIR.glob("*.sql"))}
    assert list(texts) == [
        "010_create_roles.sql",
        "020_grant_reader.sql",
        "030_grant_writer.sql",
        "040_grant_maintainer.sql",
        "050_transfer_table_ownership.sql",
    ]
    named = set(_GROUP_NAME.findall("\n".join(texts.values())))
    assert named == set(GROUPS)  # the tests' renaming reaches every group
    header = texts["010_create_roles.sql"]
    assert "psql -v ON_ERROR_STOP=1" in header and "NOLOGIN" in header
    assert "LOGIN" not in re.sub(r"--.*", "", "\n".join(texts.values())).replace("NOLOGIN", "")


def _catalog_state(conn, roles: Roles) -> dict:
    """Everything the files set: the groups, their memberships, owners and ACLs."""
    names = list(roles.group.values())
    return {
        "roles": conn.execute(
            "SELECT rolname, rolcanlogin, rolinherit FROM pg_roles WHERE rolname = ANY(%s) ORDER BY 1",
            (names,),
        ).fetchall(),
        "members": conn.execute(
            "SELECT r.rolname AS role, m.rolname AS member FROM pg_auth_members AS a "
            "JOIN pg_roles AS r ON r.oid = a.roleid JOIN pg_roles AS m ON m.oid = a.member "
            "WHERE r.rolname = ANY(%s) OR m.rolname = ANY(%s) ORDER BY 1, 2",
            (names, names),
        ).fetchall(),
        "tables": conn.execute(
            "SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner) AS owner, c.relacl::text AS acl "
            "FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN ('public', 'nurture_ops') AND c.relkind IN ('r', 'S', 'i') ORDER BY 1, 2"
        ).fetchall(),
        "schemas": conn.execute(
            "SELECT nspname, pg_get_userbyid(nspowner) AS owner, nspacl::text AS acl FROM pg_namespace "
            "WHERE nspname IN ('public', 'nurture_ops') ORDER BY 1"
        ).fetchall(),
        "database": conn.execute(
            "SELECT datacl::text AS acl FROM pg_database WHERE datname = current_database()"
        ).fetchone(),
    }


def test_applying_twice_changes_nothing_and_sets_up_the_groups(roles, admin):
    roles.apply()
    first = _catalog_state(admin, roles)
    roles.apply()  # idempotent: a second application succeeds and changes nothing
    assert _catalog_state(admin, roles) == first

    g = roles.group
    assert {r["rolname"]: (r["rolcanlogin"], r["rolinherit"]) for r in first["roles"]} == {
        name: (False, True) for name in g.values()
    }
    members = {(m["role"], m["member"]) for m in first["members"]}
    assert members == {
        ("pg_read_all_stats", g["nurture_ops_reader"]),
        (g["nurture_ops_reader"], g["nurture_ops_writer"]),
        (g["nurture_ops_reader"], g["nurture_ops_maintainer"]),
        (g["nurture_ops_table_owner"], g["nurture_ops_maintainer"]),
    }
    owners = {(t["nspname"], t["relname"]): t["owner"] for t in first["tables"]}
    for table in RUNBOOK_TABLES:
        assert owners[("public", table)] == g["nurture_ops_table_owner"], table
        assert owners[("public", f"{table}_pkey")] == g["nurture_ops_table_owner"]  # indexes follow
    assert {s["nspname"]: s["owner"] for s in first["schemas"]}["nurture_ops"] == g["nurture_ops_writer"]


# --------------------------------------------------------------------------- (a) the reader reads


def test_the_reader_runs_every_check_and_every_report(roles, db, admin):
    _seed_a_day(db)
    preloaded = (
        "pg_stat_statements"
        in admin.execute("SHOW shared_preload_libraries").fetchone()["shared_preload_libraries"]
    )
    admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    admin.execute("SELECT count(*) FROM email_sends WHERE send_status = 'sent'")  # another role's statement
    roles.apply()
    settings = build_settings()
    week = {"week_start": AT - timedelta(days=7), "week_end": AT}
    failures: dict[str, str] = {}
    results: dict[str, dict] = {}

    with roles.connect("reader") as conn:
        assert _current_user(conn) == roles.login("reader")

        def attempt(name, run):
            try:
                with conn.transaction():
                    results[name] = run()
            except psycopg.Error as exc:
                failures[name] = f"{type(exc).__name__}: {exc}"

        measured = [c for c in CHECKS.values() if c.role != "probe" and c.sql]  # not those of an API
        assert len(measured) == len(CHECKS) - 1 - sum(1 for c in CHECKS.values() if c.source)
        for check in measured:
            attempt(check.key, lambda check=check: run_measure(conn, check, AT))
        attempt("daily_digest", lambda: collect(conn, settings, AT))
        attempt("weekly.slow_queries", lambda: weekly.slow_queries(conn))
        attempt("weekly.scheduler", lambda: weekly.scheduler_performance(conn, **week))
        attempt("weekly.sender", lambda: weekly.sender_performance(conn, **week))
        attempt("weekly.unsubscribes", lambda: weekly.unsubscribe_feedback(conn, **week))
        attempt(
            "weekly.deliverability",
            lambda: deliverability.database_counts(conn, *deliverability.review_days(AT)),
        )
        attempt(
            "quarterly.capacity",
            lambda: capacity.capacity_review(conn, as_of=AT, quarter_start=AT - timedelta(days=91)),
        )
        attempt("quarterly.schema", lambda: schema.schema_readiness(conn))
        # The monthly maintenance's read-only parts (their call sites are read too).
        attempt("monthly.workflows", lambda: review_workflow_errors(conn, at=AT))
        attempt("monthly.invalid_indexes", lambda: indexes.find_invalid_indexes(conn))

    assert failures == {}
    assert results["daily_digest"]["volume"]["emails_sent"] == 3  # the rows are visible, not just no error
    assert results["weekly.unsubscribes"]["unsubscribes"] == 1
    assert results["quarterly.schema"]["ready"] is True
    if preloaded:
        slow = results["weekly.slow_queries"]
        assert slow["available"] is True, slow
        assert slow["queries"], slow  # the superuser's statement, seen through pg_read_all_stats
        assert slow["insufficient_privilege"] == 0


# --------------------------------------------------------------------------- (b) the reader writes nothing


def test_a_write_through_the_reader_is_refused(roles, db):
    ids = _seed_a_day(db)
    alert_state.ensure_schema(db)  # the nurture_ops tables exist (created by the superuser)
    roles.apply()
    writes = {
        "insert campaign_analytics": (
            "INSERT INTO campaign_analytics (organization_id, campaign_id, analytics_date) "
            "VALUES (%(org)s, %(campaign)s, DATE '2026-05-01')"
        ),
        "update leads": "UPDATE leads SET metadata = metadata || '{\"email_invalid\": true}' WHERE id = %(lead)s",
        "update enrollments": "UPDATE lead_campaign_enrollments SET status = 'paused' WHERE id = %(enrollment)s",
        "delete email_sends": "DELETE FROM email_sends",
        "create a table": "CREATE TABLE public.reader_was_here (id integer)",
        "write alert_state": "INSERT INTO nurture_ops.alert_state (alert_key) VALUES ('reader')",
    }
    refused = {}
    with roles.connect("reader", autocommit=True) as conn:
        for name, statement in writes.items():
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
                conn.execute(statement, ids)
            refused[name] = str(caught.value).splitlines()[0]
    assert refused["insert campaign_analytics"] == "permission denied for table campaign_analytics"
    assert refused["update leads"] == "permission denied for table leads"
    # The reader may read nurture_ops (the Lead Nurture page), never write it.
    assert refused["write alert_state"] == "permission denied for table alert_state"


# --------------------------------------------------------------------------- (c) the writer writes


def test_the_writer_runs_the_migrations_the_rollup_and_the_remediation_on_a_fresh_database(roles, db, admin):
    ids = _seed_a_day(db)
    roles.apply()
    assert (
        admin.execute("SELECT to_regclass('nurture_ops.alert_state') AS t").fetchone()["t"] is None
    )  # fresh
    with roles.connect("writer", autocommit=True) as conn:
        alert_state.ensure_schema(conn)
        assert alert_state.schema_version(conn) == alert_state.migrations()[-1].version
        assert analytics.rollup_day(conn, DAY, AT) == 1
        assert analytics.rollup_day(conn, DAY, AT) == 1  # the upsert again: ON CONFLICT DO UPDATE
        result = RUNNERS["invalidate_hard_bounce_leads"](
            conn,
            REMEDIATIONS["invalidate_hard_bounce_leads"],
            mode="apply",
            max_rows=100,
            run=RunInfo("test_dag", "test_run", "remediate", AT),
            reason="test",
            alert_key="high_bounce_rate",
        )
        silence = alert_state.add_silence(
            conn, "high_bounce_rate", starts_at=AT, ends_at=AT + timedelta(hours=1), reason="test"
        )
        # Only the remediations' columns: the address, and the sends, stay the application's.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE leads SET email = 'x@example.test' WHERE id = %s", (ids["lead"],))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM email_sends")
    assert silence > 0
    assert (
        admin.execute(
            "SELECT count(*) AS n FROM campaign_analytics WHERE analytics_date = %s", (DAY,)
        ).fetchone()["n"]
        == 1
    )
    lead = admin.execute("SELECT metadata FROM leads WHERE id = %s", (ids["bounced_lead"],)).fetchone()
    assert lead["metadata"].get("email_invalid") is True, result
    enrollment = admin.execute(
        "SELECT status, completion_reason FROM lead_campaign_enrollments WHERE id = %s",
        (ids["bounced_enrollment"],),
    ).fetchone()
    assert enrollment == {"status": "completed", "completion_reason": "invalid_email"}
    audit = admin.execute("SELECT outcome, rows_changed FROM nurture_ops.remediation_audit").fetchall()
    assert [a["rows_changed"] for a in audit] == [2], audit


def test_the_writer_takes_over_nurture_ops_tables_created_before_the_roles(roles, db, admin):
    """A deployment that ran as a superuser first: its tables pass to the writer group, so a later
    migration (ALTER TABLE: only the owner may) still runs as the writer."""
    alert_state.ensure_schema(db)
    roles.apply()
    latest = alert_state.migrations()[-1].version
    admin.execute("DELETE FROM nurture_ops.schema_migrations WHERE version = %s", (latest,))  # pending again
    with roles.connect("writer", autocommit=True) as conn:
        alert_state.ensure_schema(conn)
        assert alert_state.schema_version(conn) == latest
        alert_state.add_silence(conn, "kpi_review", starts_at=AT, ends_at=AT + timedelta(hours=1), reason="t")
    owners = admin.execute(
        "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class "
        "WHERE relnamespace = 'nurture_ops'::regnamespace AND relkind = 'r'"
    ).fetchall()
    assert owners == [{"owner": roles.group["nurture_ops_writer"]}]


# --------------------------------------------------------------------------- the maintainer


def test_the_maintainer_reindexes_and_analyzes_once_the_owner_role_owns_the_tables(roles, db, admin):
    _seed_a_day(db)
    roles.apply(upto="040")  # everything but the ownership step
    with (
        roles.connect("maintainer", autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner of table"),
    ):
        conn.execute("REINDEX TABLE CONCURRENTLY lead_campaign_enrollments")
    roles.apply()  # with 050_transfer_table_ownership.sql

    def filenodes() -> dict:
        rows = admin.execute(
            "SELECT indexrelid::regclass::text AS index, pg_relation_filenode(indexrelid) AS node "
            "FROM pg_index WHERE indrelid = 'lead_campaign_enrollments'::regclass"
        ).fetchall()
        return {r["index"]: r["node"] for r in rows}

    before = filenodes()
    with roles.connect("maintainer", autocommit=True) as conn:
        assert _current_user(conn) == roles.login("maintainer")  # a login, not the owner role
        conn.execute("ANALYZE email_sends")
        conn.execute("REINDEX TABLE CONCURRENTLY lead_campaign_enrollments")
    after = filenodes()
    assert set(after) == set(before)
    assert all(after[name] != before[name] for name in before)  # every index rebuilt
    with psycopg.connect(pg.dsn(roles.dbname), row_factory=dict_row) as fresh:  # a fresh stats snapshot
        analyzed = fresh.execute(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'email_sends'"
        ).fetchone()
    assert analyzed["last_analyze"] is not None


def test_the_maintainer_archives_and_the_writer_reads_the_archive_after_the_roles_are_reapplied(
    roles, db, admin, monkeypatch
):
    """The archive's first run creates the archive tables as the maintainer's login and grants the
    writer SELECT on them, so the rollup reads an archived day at once; applying the roles files
    again hands the new tables to the owner role."""
    from nurture_ops.core import archiving

    seeded = seed_sends(db, old=6, recent=2)
    seed_enrollments(db, completed_old=3)
    roles.apply()
    monkeypatch.setattr(archiving, "WRITER_ROLE", roles.group["nurture_ops_writer"])
    cutoff = NOW - timedelta(days=365)
    with roles.connect("maintainer", autocommit=True) as conn:
        archived = archive_sends_and_events(
            conn, cutoff=cutoff, batch_size=4, run_id="roles-test", archived_at=NOW, log=lambda line: None
        )
        cleaned = cleanup_completed_enrollments(
            conn,
            older_than=NOW - timedelta(days=90),
            batch_size=2,
            run_id="roles-test",
            archived_at=NOW,
            log=lambda line: None,
        )
    assert admin.execute("SELECT count(*) AS n FROM email_sends_archive").fetchone()["n"] == len(
        seeded.old_send_ids
    ), archived
    assert (
        admin.execute("SELECT count(*) AS n FROM lead_campaign_enrollments_archive").fetchone()["n"] == 3
    ), cleaned

    old_day = (NOW - timedelta(days=400)).date()
    with roles.connect("writer", autocommit=True) as conn:
        assert analytics.rollup_day(conn, old_day, NOW) == 1  # right after the first archive run
    roles.apply()  # again: the new tables get their owner
    with roles.connect("writer", autocommit=True) as conn:
        assert analytics.rollup_day(conn, old_day, NOW) == 1  # an archived day, read from the archive
    owners = admin.execute(
        "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relname = ANY(%s)",
        (list(ARCHIVE_TABLES),),
    ).fetchall()
    assert owners == [{"owner": roles.group["nurture_ops_table_owner"]}]


# --------------------------------------------------------------------------- (d) connect(purpose=...)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind((pg.HOST, 0))
        return s.getsockname()[1]


def test_connect_for_reading_uses_leads_db_readonly_when_defined_else_leads_db(roles, monkeypatch, caplog):
    roles.apply()
    caplog.set_level(logging.INFO, logger="nurture_ops.core.db")
    monkeypatch.delenv("AIRFLOW_CONN_LEADS_DB_READONLY", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_LEADS_DB_MAINTENANCE", raising=False)

    assert db.conn_id_for("read") == db.LEADS_DB_CONN_ID
    with db.connect(purpose="read") as conn:
        assert _current_user(conn) == pg.SUPERUSER  # leads_db, as the fixture wires it
    assert "leads_db (leads_db_readonly is not defined)" in caplog.text

    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB_READONLY", roles.connection_json("reader"))
    caplog.clear()
    assert db.conn_id_for("read") == db.READONLY_CONN_ID
    with db.connect(purpose="read") as conn:
        assert _current_user(conn) == roles.login("reader")
    assert "Database connection for read: leads_db_readonly" in caplog.text

    with db.connect(purpose="write") as conn:  # the writer is leads_db itself
        assert _current_user(conn) == pg.SUPERUSER
    with db.connect() as conn:  # no purpose: leads_db, as before
        assert _current_user(conn) == pg.SUPERUSER

    with db.connect(purpose="maintain") as conn:
        assert _current_user(conn) == pg.SUPERUSER
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB_MAINTENANCE", roles.connection_json("maintainer"))
    with db.connect(purpose="maintain", autocommit=True) as conn:
        assert _current_user(conn) == roles.login("maintainer")


def test_connect_refuses_an_unknown_purpose_and_a_purpose_with_a_conn_id():
    with pytest.raises(ValueError, match="Unknown connection purpose 'admin'"):
        db.conn_id_for("admin")
    with (
        pytest.raises(ValueError, match="conn_id or purpose, not both"),
        db.connect("leads_db", purpose="read"),
    ):
        pass


def test_the_review_and_audit_tasks_read_through_leads_db_readonly(roles, monkeypatch):
    """With leads_db_readonly defined the read tasks never touch leads_db (here unreachable)."""
    from nurture_ops.quarterly_audit import tasks as quarterly_tasks
    from nurture_ops.weekly_review import tasks as weekly_tasks

    roles.apply()
    fields = json.loads(roles.connection_json("reader"))
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB", json.dumps({**fields, "port": _closed_port()}))
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB_READONLY", roles.connection_json("reader"))
    assert "available" in weekly_tasks.query_performance.function()
    assert quarterly_tasks.schema_readiness.function()["ready"] is True


def test_the_maintainer_archives_into_tables_it_does_not_own(roles, db, admin, monkeypatch):
    """Archive tables created beforehand by an admin and the roles applied without the ownership
    step (050): the archive and the cleanup still run as the maintainer, because nothing is
    re-created (CREATE INDEX IF NOT EXISTS would need ownership even for an existing index)."""
    from nurture_ops.core import archiving

    seeded = seed_sends(db, old=4, recent=1)
    seed_enrollments(db, completed_old=2)
    archiving.ensure_archive_tables(admin)  # as the admin: the admin owns the archive tables
    roles.apply(upto="040")
    admin.execute(
        sql.SQL("GRANT SELECT, INSERT, DELETE ON {}, {}, {} TO {}").format(
            *(sql.Identifier(t) for t in ARCHIVE_TABLES),
            sql.Identifier(roles.group["nurture_ops_maintainer"]),
        )
    )
    monkeypatch.setattr(archiving, "WRITER_ROLE", roles.group["nurture_ops_writer"])
    with roles.connect("maintainer", autocommit=True) as conn:
        archived = archive_sends_and_events(
            conn,
            cutoff=NOW - timedelta(days=365),
            batch_size=4,
            run_id="not-owner",
            archived_at=NOW,
            log=lambda line: None,
        )
        cleaned = cleanup_completed_enrollments(
            conn,
            older_than=NOW - timedelta(days=90),
            batch_size=2,
            run_id="not-owner",
            archived_at=NOW,
            log=lambda line: None,
        )
    assert archived["sends"]["moved"] == len(seeded.old_send_ids)
    assert cleaned["enrollments"]["moved"] == 2


def test_the_reader_reads_the_lead_nurture_page(roles, db, admin):
    """The page's queries (campaign_analytics and nurture_ops only) through the reader's role, once
    the writer has migrated nurture_ops and the roles files are applied; it cannot act."""
    from nurture_ops.core.catalog import get_check
    from nurture_ops.ops_page import app, queries

    _seed_a_day(db)
    roles.apply()
    with roles.connect("writer", autocommit=True) as conn:
        alert_state.ensure_schema(conn)
        analytics.rollup_day(conn, DAY, AT)
    roles.apply()
    with roles.connect("reader", autocommit=True) as conn:
        context = app.page_context(
            conn,
            get_check("kpi_review").thresholds,
            today=AT.date(),
            days=30,
            scope=queries.Scope(),
            at=AT,
        )
        assert context["status"]["alert_state_ready"] is True
        assert context["kpis"]["windows"]["yesterday"]["emails_sent"] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            alert_state.add_silence(
                conn, "kpi_review", starts_at=AT, ends_at=AT + timedelta(hours=1), reason="t"
            )
