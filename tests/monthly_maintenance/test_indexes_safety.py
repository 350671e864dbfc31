"""Monthly index maintenance, the faults of issue 9/10, against a real PostgreSQL:

- a failed REINDEX TABLE CONCURRENTLY leaves an INVALID `_ccnew` on the table's TOAST table too
  (schema pg_toast): it is dropped by the rebuild's own clean-up, reported by
  find_invalid_indexes and dropped by drop_invalid_indexes (10a);
- a long transaction would make the rebuild wait for it after the build and throw the new
  indexes away on lock_timeout: the table is deferred before any build, with the blocker named (10b);
- REINDEX and ANALYZE as a role that does not own the table: "skipped: not owner" with what to
  GRANT, never "analyzed" or a generic failure (9).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from itertools import count

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from nurture_ops.monthly_maintenance import tasks as monthly_tasks
from nurture_ops.monthly_maintenance.indexes import (
    analyze_tables,
    drop_invalid_indexes,
    find_invalid_indexes,
    reindex_tables,
)
from nurture_ops.monthly_maintenance.report import index_text, invalid_text, monthly_report
from tests.monthly_maintenance.test_indexes import bulk_sends, hold_old_snapshot, index_filenodes

_role_counter = count()


def all_invalid_indexes(conn) -> list[tuple[str, str]]:
    """Every INVALID index of the database, pg_toast included, straight from the catalog."""
    return conn.execute(
        "SELECT n.nspname, c.relname FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid"
        " JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE NOT i.indisvalid ORDER BY 1, 2"
    ).fetchall()


def toast_index(conn, table: str) -> str:
    """The name of the (valid) index of the table's TOAST table, e.g. pg_toast_16420_index."""
    return conn.execute(
        "SELECT c.relname FROM pg_class AS t JOIN pg_index AS i ON i.indrelid = t.reltoastrelid"
        " JOIN pg_class AS c ON c.oid = i.indexrelid WHERE t.oid = %s::regclass AND i.indisvalid",
        (table,),
    ).fetchone()[0]


def fail_a_rebuild_midway(dsn: str, table: str) -> None:
    """A REINDEX TABLE CONCURRENTLY (another session, not the package) that builds every new index,
    then times out waiting for an older snapshot: the *_ccnew copies stay behind, INVALID."""
    blocker = hold_old_snapshot(dsn)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '300ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                conn.execute(sql.SQL("REINDEX TABLE CONCURRENTLY {}").format(sql.Identifier(table)))
    finally:
        blocker.close()


# --- 10a: TOAST leftovers ------------------------------------------------------------------------


def test_a_failed_rebuild_drops_its_toast_leftover_too(leads_db, db):
    """The rebuild times out after building: the *_ccnew copies it made are dropped, the one on
    the TOAST table (pg_toast.pg_toast_<oid>_index_ccnew) as well; nothing INVALID is left."""
    bulk_sends(db, 2000)
    toast = toast_index(db, "email_events")
    blocker = hold_old_snapshot(leads_db)
    lines: list[str] = []
    try:
        [result] = reindex_tables(
            leads_db, ("email_events",), lock_timeout_ms=300, log=lines.append, attempts=1, retry_delay_s=0.1
        )
    finally:
        blocker.close()
    assert result["status"] == "failed" and result["error"].startswith("LockNotAvailable"), result
    assert f"{toast}_ccnew" in result["leftovers_dropped"], result["leftovers_dropped"]
    assert any(name.startswith("email_events_") for name in result["leftovers_dropped"])
    assert result["invalid_indexes"] == []
    assert all_invalid_indexes(db) == []
    assert f"drop pg_toast.{toast}_ccnew: dropped" in "\n".join(lines)


def test_toast_leftovers_of_maintained_tables_are_reported_and_dropped(leads_db, db):
    """Leftovers an earlier run left: find_invalid_indexes reports the pg_toast ones of the
    maintained tables (with the table they belong to), drop_invalid_indexes drops them."""
    bulk_sends(db, 200)
    db.execute("CREATE TABLE notes_not_maintained (id int PRIMARY KEY, body text)")
    fail_a_rebuild_midway(leads_db, "email_sends")
    fail_a_rebuild_midway(leads_db, "notes_not_maintained")
    toast = toast_index(db, "email_sends")
    other_toast = toast_index(db, "notes_not_maintained")
    assert ("pg_toast", f"{toast}_ccnew") in all_invalid_indexes(db)
    assert ("pg_toast", f"{other_toast}_ccnew") in all_invalid_indexes(db)

    found = {i["qualified_name"]: i for i in find_invalid_indexes(db)}
    leftover = found[f"pg_toast.{toast}_ccnew"]
    assert leftover["is_toast"] is True and leftover["is_ccnew"] is True
    assert (leftover["table_schema"], leftover["table_name"]) == ("public", "email_sends")
    assert leftover["build_in_progress"] is False
    # Only the maintained tables' TOAST leftovers; a table's own INVALID indexes are all reported.
    assert f"pg_toast.{other_toast}_ccnew" not in found
    assert "public.notes_not_maintained_pkey_ccnew" in found
    assert (
        "public.email_sends_pkey_ccnew" in found
        and found["public.email_sends_pkey_ccnew"]["is_toast"] is False
    )

    # Unqualified, a pg_toast index is not found (pg_toast is not on the search path): say so.
    [unqualified] = drop_invalid_indexes(leads_db, [f"{toast}_ccnew"], lambda line: None)
    assert unqualified["status"] == "missing" and "pg_toast." in unqualified["error"]
    names = [name for name, i in found.items() if i["table_name"] == "email_sends"]
    dropped = drop_invalid_indexes(leads_db, names, lambda line: None)
    assert {d["index"]: d["status"] for d in dropped} == dict.fromkeys(names, "dropped")
    assert [i for i in all_invalid_indexes(db) if "email_sends" in i[1] or toast in i[1]] == []
    assert f"pg_toast.{other_toast}_ccnew" in {
        i["qualified_name"] for i in find_invalid_indexes(db, ("notes_not_maintained",))
    }

    # The report names the table a TOAST leftover belongs to.
    report = invalid_text(
        {
            "drop_enabled": True,
            "indexes": [
                {
                    "index": f"pg_toast.{toast}_ccnew",
                    "table": "email_sends",
                    "toast": True,
                    "size_bytes": 8192,
                    "leftover": True,
                    "build_in_progress": False,
                    "status": "dropped",
                    "error": None,
                }
            ],
            "remaining": [],
        }
    )
    assert f"`pg_toast.{toast}_ccnew` on the TOAST table of `email_sends`" in report


# --- 10b: long transactions ----------------------------------------------------------------------


def test_a_long_snapshot_defers_the_rebuild_before_any_index_is_built(leads_db, db):
    """A REPEATABLE READ transaction with a snapshot, older than the threshold: the rebuild would
    wait for it after building every new index and throw them away on lock_timeout. The table is
    deferred before any build, the report names the session; once it ends a rerun rebuilds."""
    bulk_sends(db, 2000)
    before = {table: index_filenodes(db, table) for table in ("email_sends", "email_events")}
    blocker = psycopg.connect(leads_db, application_name="report-export")
    blocker.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    blocker.execute("SELECT COUNT(*) FROM organizations").fetchone()
    pid = blocker.info.backend_pid
    time.sleep(1.2)
    lines: list[str] = []
    try:
        results = reindex_tables(
            leads_db,
            ("email_sends", "email_events"),
            lock_timeout_ms=300,
            log=lines.append,
            attempts=3,
            retry_delay_s=0.1,
            long_transaction_s=1.0,
        )
        # Nothing was built, nothing thrown away: same index files, no REINDEX started.
        assert {table: index_filenodes(db, table) for table in before} == before
        assert all_invalid_indexes(db) == []
    finally:
        blocker.rollback()
        blocker.close()

    for result in results:
        assert result["status"] == "deferred", result
        assert result["attempts"] == 0 and result["leftovers_dropped"] == [] and result["error"] is None
        assert result["reason"].startswith("a transaction open since ")
        assert f"(pid {pid}, application report-export" in result["reason"]
        assert result["reason"].endswith("would make the rebuild wait; rerun when it ends")
        [blocking] = result["blockers"]
        assert blocking["pid"] == pid and blocking["holds_snapshot"] is True and blocking["age_s"] >= 1.0
    text = "\n".join(lines)
    assert (
        "reindex email_sends: deferred: a transaction open since" in text and "LockNotAvailable" not in text
    )
    report = index_text(results, None)
    assert "`email_sends`: NOT rebuilt: deferred: a transaction open since" in report
    assert f"pid {pid}" in report and "rerun when it ends" in report
    assert "clear `reindex_tables`" in report
    _, summary = monthly_report({"reindex_tables": results}, at=datetime.now(UTC))
    assert "reindex deferred for email_sends, email_events (long transaction)" in summary

    # The transaction ended: the rerun rebuilds both tables.
    rerun = reindex_tables(
        leads_db, ("email_sends", "email_events"), log=lines.append, long_transaction_s=1.0
    )
    assert [r["status"] for r in rerun] == ["reindexed", "reindexed"], rerun
    after = {table: index_filenodes(db, table) for table in before}
    assert all(after[t][name] != before[t][name] for t in before for name in before[t])


def test_an_idle_transaction_holding_a_lock_on_the_table_defers_it(leads_db, db):
    """READ COMMITTED, idle in transaction after reading the table: no snapshot, but a lock the
    rebuild waits for before dropping the old indexes (it would fail after swapping, leaving
    *_ccold copies). Deferred too; a younger transaction, or one on another table, is no reason."""
    bulk_sends(db, 200)
    reader = psycopg.connect(leads_db, application_name="sync-worker")
    reader.execute("SELECT COUNT(*) FROM email_sends").fetchone()
    pid = reader.info.backend_pid
    time.sleep(1.2)
    try:
        deferred, other = reindex_tables(
            leads_db,
            ("email_sends", "lead_campaign_enrollments"),
            lock_timeout_ms=300,
            log=lambda line: None,
            attempts=2,
            retry_delay_s=0.1,
            long_transaction_s=1.0,
        )
        assert all_invalid_indexes(db) == []
    finally:
        reader.close()
    assert deferred["status"] == "deferred", deferred
    assert f"(pid {pid}, application sync-worker" in deferred["reason"]
    assert "idle in transaction" in deferred["reason"] and "holds a lock on the table" in deferred["reason"]
    assert (
        deferred["blockers"][0]["holds_lock"] is True and deferred["blockers"][0]["holds_snapshot"] is False
    )
    # Another table, which the session has not touched, is rebuilt.
    assert other["status"] == "reindexed", other


# A logical date no other test of the monthly DAG uses.
DEFERRED_RUN = datetime(2026, 9, 1, 3, 0, tzinfo=UTC)


def forget_dag_runs(dag_id: str, logical_date: datetime) -> None:
    """Delete the DAG's runs at logical_date from the (per-process) Airflow metadata DB: other
    tests of the DAG look its runs up by dag_id."""
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date)
        run_ids = [run.run_id for run in runs]
        session.query(TaskInstance).filter(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id.in_(run_ids)
        ).delete(synchronize_session=False)
        runs.delete(synchronize_session=False)


def test_the_run_defers_behind_a_long_transaction_and_the_summary_says_so(
    run_dag, db, leads_db, slack_sink, monkeypatch
):
    """Through the DAG: the reindex task fails (the run shows it), its XCom says deferred, and the
    monthly summary names the blocking session; no table was rebuilt, nothing INVALID is left."""
    from tests.monthly_maintenance.test_monthly_maintenance_dag import DAG_ID, body, infos

    bulk_sends(db, 100)
    monkeypatch.setattr(monthly_tasks, "ATTEMPTS", 1)
    monkeypatch.setattr(monthly_tasks, "LONG_TRANSACTION_S", 0.5)
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_MAINTENANCE", json.dumps({"lock_timeout_ms": 200}))
    before = index_filenodes(db, "email_sends")
    blocker = psycopg.connect(leads_db, application_name="bi-dashboard")
    blocker.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    blocker.execute("SELECT COUNT(*) FROM organizations").fetchone()
    pid = blocker.info.backend_pid
    time.sleep(0.6)
    try:
        states = run_dag(DAG_ID, DEFERRED_RUN)
    finally:
        blocker.close()
        forget_dag_runs(DAG_ID, DEFERRED_RUN)
    assert states["reindex_tables"] == "failed" and states["monthly_summary"] == "success"
    assert index_filenodes(db, "email_sends") == before
    assert all_invalid_indexes(db) == []
    (summary,) = infos(slack_sink)
    assert (
        "reindex deferred for lead_campaign_enrollments, email_sends, email_events (long transaction)"
        in (summary["text"])
    )
    text = body(summary)
    assert f"pid {pid}, application bi-dashboard" in text and "rerun when it ends" in text


# --- 9: REINDEX / ANALYZE as a role that does not own the table ---------------------------------


@pytest.fixture
def make_role(db):
    """Creates LOGIN roles for one test (names unique per process); drops them, and what they own
    in the test database, afterwards."""
    created: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}_{os.getpid()}_{next(_role_counter)}"
        db.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        created.append(name)
        return name

    yield make
    for name in reversed(created):
        role = sql.Identifier(name)
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
        db.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(role))
        db.execute(sql.SQL("DROP OWNED BY {}").format(role))
        db.execute(sql.SQL("DROP ROLE {}").format(role))


def test_analyze_as_a_non_owner_is_skipped_not_analyzed(leads_db, db, make_role):
    bulk_sends(db, 137)
    maint = make_role("nurture_maint")
    lines: list[str] = []
    [result] = analyze_tables(make_conninfo(leads_db, user=maint), ("email_sends",), lines.append)
    assert result["status"] == "skipped", result
    assert result["reason"].startswith("not owner: public.email_sends is owned by postgres")
    assert result["owner"] == "postgres" and result["error"] is None
    # A superuser owner cannot be delegated: give the table an owner role, then grant that.
    assert "ALTER TABLE public.email_sends OWNER TO" in result["fix"] and f"TO {maint}" in result["fix"]
    assert any("skipping" in n or "permission denied" in n for n in result["notices"])
    # It really did not analyze: the planner still has no statistics for the table.
    assert db.execute("SELECT reltuples FROM pg_class WHERE oid = 'email_sends'::regclass").fetchone()[0] < 0
    assert lines[-1].startswith("analyze email_sends: skipped: not owner")
    text = index_text(None, [result])
    assert "ANALYZE skipped: not owner" in text and "analyzed" not in text
    assert result["fix"] in text


def test_reindex_as_a_non_owner_is_skipped_not_failed(leads_db, db, make_role):
    bulk_sends(db, 50)
    owner, maint = make_role("nurture_owner"), make_role("nurture_maint")
    db.execute(sql.SQL("ALTER TABLE email_sends OWNER TO {}").format(sql.Identifier(owner)))
    before = index_filenodes(db, "email_sends")
    lines: list[str] = []
    as_maint = make_conninfo(leads_db, user=maint)
    [reindexed] = reindex_tables(as_maint, ("email_sends",), log=lines.append)
    [analyzed] = analyze_tables(as_maint, ("email_sends",), lines.append)
    assert reindexed["status"] == "skipped" and reindexed["error"] is None, reindexed
    assert reindexed["attempts"] == 1
    assert (
        reindexed["reason"]
        == f"not owner: public.email_sends is owned by {owner}; {maint} is not a member of it"
    )
    assert reindexed["fix"] == f"GRANT {owner} TO {maint}"
    assert analyzed["status"] == "skipped" and analyzed["fix"] == f"GRANT {owner} TO {maint}"
    assert index_filenodes(db, "email_sends") == before
    assert any(line.startswith("reindex email_sends: skipped: not owner") for line in lines)
    text = index_text([reindexed], [analyzed])
    assert "`email_sends`: NOT rebuilt: skipped: not owner" in text
    assert "ANALYZE skipped: not owner" in text and "analyzed" not in text
    assert f"GRANT {owner} TO {maint}" in text
    _, summary = monthly_report(
        {"reindex_tables": [reindexed], "analyze_tables": [analyzed]},
        at=datetime.now(UTC),
    )
    assert "reindex skipped for email_sends (not owner)" in summary
    assert "ANALYZE skipped for email_sends (not owner)" in summary


def test_a_member_of_the_owning_role_reindexes_analyzes_and_cleans_up_toast(leads_db, db, make_role):
    """The set-up the report asks for: the tables owned by an owner role, the maintenance role a
    member of it (GRANT owner TO maint; pg_read_all_stats for the check of long transactions).
    Then REINDEX and ANALYZE work. Dropping a pg_toast
    leftover also needs USAGE on pg_toast (the name is resolved through it): without it the
    leftover is kept and the result says what to grant; with it the clean-up drops it."""
    bulk_sends(db, 300)
    owner, maint = make_role("nurture_owner"), make_role("nurture_maint")
    for table in ("email_sends", "email_events"):
        db.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.Identifier(table), sql.Identifier(owner)))
    db.execute(
        sql.SQL("GRANT {}, pg_read_all_stats TO {}").format(sql.Identifier(owner), sql.Identifier(maint))
    )
    as_maint = make_conninfo(leads_db, user=maint)

    [reindexed] = reindex_tables(as_maint, ("email_sends",), log=lambda line: None)
    [analyzed] = analyze_tables(as_maint, ("email_sends",), lambda line: None)
    assert reindexed["status"] == "reindexed", reindexed
    assert analyzed["status"] == "analyzed" and analyzed["estimated_rows"] == 300, analyzed
    toast = toast_index(db, "email_events")

    def fail_once() -> dict:
        blocker = hold_old_snapshot(leads_db)
        try:
            [result] = reindex_tables(
                as_maint, ("email_events",), lock_timeout_ms=300, log=lambda line: None, attempts=1
            )
        finally:
            blocker.close()
        assert result["status"] == "failed" and result["error"].startswith("LockNotAvailable"), result
        return result

    without_usage = fail_once()
    assert without_usage["leftovers_dropped"] and f"{toast}_ccnew" not in without_usage["leftovers_dropped"]
    assert without_usage["invalid_indexes"] == [f"{toast}_ccnew"]
    assert without_usage["warnings"] == [
        f'"pg_toast"."{toast}_ccnew" left INVALID: InsufficientPrivilege: permission denied for schema '
        f"pg_toast (GRANT USAGE ON SCHEMA pg_toast TO {maint})"
    ]

    db.execute(sql.SQL("GRANT USAGE ON SCHEMA pg_toast TO {}").format(sql.Identifier(maint)))
    with_usage = fail_once()
    # This attempt's own leftover (the name _ccnew is taken: _ccnew1) is dropped; the one from
    # before is not touched by the rebuild, drop_invalid_indexes drops it.
    assert f"{toast}_ccnew1" in with_usage["leftovers_dropped"] and with_usage["warnings"] == []
    assert with_usage["invalid_indexes"] == [f"{toast}_ccnew"]
    [leftover] = find_invalid_indexes(db)
    assert leftover["qualified_name"] == f"pg_toast.{toast}_ccnew"
    [dropped] = drop_invalid_indexes(as_maint, [leftover["qualified_name"]], lambda line: None)
    assert dropped["status"] == "dropped", dropped
    assert all_invalid_indexes(db) == []


def test_the_maintenance_role_is_told_when_it_cannot_see_other_sessions(leads_db, db, make_role):
    """Without pg_read_all_stats a role sees no other user's transaction start or snapshot, so
    the long-transaction check cannot see them: the result says so (and what to grant)."""
    bulk_sends(db, 20)
    owner, maint = make_role("nurture_owner"), make_role("nurture_maint")
    db.execute(sql.SQL("ALTER TABLE email_events OWNER TO {}").format(sql.Identifier(owner)))
    db.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(owner), sql.Identifier(maint)))
    lines: list[str] = []
    [result] = reindex_tables(make_conninfo(leads_db, user=maint), ("email_events",), log=lines.append)
    assert result["status"] == "reindexed"
    assert result["warnings"] == [
        f"{maint} cannot see other users' transactions, so a long one may go unnoticed: "
        f"GRANT pg_read_all_stats TO {maint}"
    ]
    assert result["warnings"][0] in index_text([result], None)
    db.execute(sql.SQL("GRANT pg_read_all_stats TO {}").format(sql.Identifier(maint)))
    [again] = reindex_tables(make_conninfo(leads_db, user=maint), ("email_events",), log=lines.append)
    assert again["status"] == "reindexed" and again["warnings"] == []
