"""Monthly index maintenance against a real PostgreSQL: online REINDEX CONCURRENTLY while another
session writes, lock-timeout retries, INVALID index detection and clean-up, ANALYZE."""

from __future__ import annotations

import functools
import threading
import time
from datetime import timedelta

import psycopg
import pytest

from nurture_ops.monthly_maintenance import indexes as maintenance
from nurture_ops.monthly_maintenance.indexes import (
    DEFAULT_TABLES,
    analyze_tables,
    drop_invalid_indexes,
    find_invalid_indexes,
    reindex_tables,
)
from tests.builders import NOW, Seed, seed_sends


def index_filenodes(conn, table: str) -> dict[str, int]:
    return dict(
        conn.execute(
            "SELECT c.relname, c.relfilenode FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass",
            (table,),
        ).fetchall()
    )


def bulk_sends(conn, count: int) -> None:
    seeded = seed_sends(conn, old=0, recent=0)
    conn.execute(
        "INSERT INTO email_sends (organization_id, lead_id, campaign_id, send_status, created_at,"
        " actual_send_time, scheduled_send_time)"
        " SELECT %s, %s, %s, 'sent', %s - g * INTERVAL '1 second', %s - g * INTERVAL '1 second', %s"
        " FROM generate_series(1, %s) AS g",
        (seeded.org_id, seeded.lead_ids[0], seeded.campaign_id, NOW, NOW, NOW, count),
    )
    conn.execute(
        "INSERT INTO email_events (email_send_id, event_type, event_timestamp, event_hash)"
        " SELECT id, 'delivered', created_at, md5(id::text) FROM email_sends"
    )


class Writer(threading.Thread):
    """Inserts sends one at a time (each its own transaction) until stopped, timing each insert."""

    def __init__(self, dsn: str, org_id: str, lead_id: int, campaign_id: int):
        super().__init__(daemon=True)
        self.dsn, self.args = dsn, (org_id, lead_id, campaign_id)
        self.stop = threading.Event()
        self.writes: list[tuple[float, float]] = []  # (monotonic time done, seconds taken)
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                org_id, lead_id, campaign_id = self.args
                seed = Seed(conn, now=NOW)
                n = 0
                while not self.stop.is_set():
                    n += 1
                    started = time.monotonic()
                    seed.send(
                        lead_id,
                        campaign_id,
                        org_id=org_id,
                        status="queued",
                        sendgrid_message_id=f"writer-{n}",
                        created_at=NOW + timedelta(seconds=n),
                    )
                    done = time.monotonic()
                    self.writes.append((done, done - started))
        except BaseException as exc:
            self.errors.append(exc)


def index_count(conn, table: str) -> int:
    """Valid indexes of a table, read from the catalog (the schema files decide how many)."""
    return conn.execute(
        "SELECT COUNT(*) FROM pg_index WHERE indrelid = %s::regclass AND indisvalid", (table,)
    ).fetchone()[0]


def test_reindex_is_online_while_another_session_inserts(leads_db, db):
    bulk_sends(db, 200_000)
    ids = db.execute("SELECT organization_id, lead_id, campaign_id FROM email_sends LIMIT 1").fetchone()
    before = index_filenodes(db, "email_sends")
    writer = Writer(leads_db, str(ids[0]), ids[1], ids[2])
    log_times: dict[str, float] = {}

    def log(line: str) -> None:
        log_times[line.split(":")[0]] = time.monotonic()

    writer.start()
    try:
        time.sleep(0.2)
        results = reindex_tables(leads_db, lock_timeout_ms=5000, log=log, retry_delay_s=0.1)
    finally:
        time.sleep(0.2)
        writer.stop.set()
        writer.join(30)

    assert [r["table"] for r in results] == list(DEFAULT_TABLES)
    assert [r["status"] for r in results] == ["reindexed"] * 3, results
    assert all(r["error"] is None and r["invalid_indexes"] == [] for r in results)
    sends = next(r for r in results if r["table"] == "email_sends")
    assert sends["indexes"] == index_count(db, "email_sends") and sends["attempts"] == 1
    assert find_invalid_indexes(db) == []
    # Every index was rebuilt (new files), under the same names.
    after = index_filenodes(db, "email_sends")
    assert set(after) == set(before) and all(after[name] != before[name] for name in before)

    # The writer never failed and was never held up long; it kept writing during the rebuild.
    assert writer.errors == []
    written = db.execute(
        "SELECT COUNT(*) FROM email_sends WHERE sendgrid_message_id LIKE 'writer-%'"
    ).fetchone()[0]
    assert written == len(writer.writes) > 0
    # A blocking REINDEX would hold each insert for the whole rebuild of the table.
    slowest = max(seconds for _, seconds in writer.writes)
    print(f"slowest insert {slowest:.3f}s, email_sends rebuilt in {sends['seconds']:.3f}s")
    assert slowest < sends["seconds"] / 2
    end = log_times["reindex email_sends"]
    during = [t for t, _ in writer.writes if end - sends["seconds"] <= t <= end]
    assert len(during) > 0

    # The rebuilt indexes hold every row, including those inserted during the rebuild.
    db.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
    for name in after:
        db.execute("SELECT bt_index_check(%s::regclass, true)", (name,))
    db.execute("SET enable_seqscan = off")
    by_index = db.execute("SELECT COUNT(*) FROM email_sends WHERE created_at > %s", (NOW,)).fetchone()[0]
    assert by_index == written


def hold_old_snapshot(dsn: str) -> psycopg.Connection:
    """A session with an open REPEATABLE READ snapshot: REINDEX CONCURRENTLY must wait for it."""
    blocker = psycopg.connect(dsn)
    blocker.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    blocker.execute("SELECT COUNT(*) FROM organizations").fetchone()
    return blocker


def test_reindex_retries_after_lock_timeout_and_drops_what_the_failed_attempt_left(leads_db, db):
    bulk_sends(db, 2000)
    blocker = hold_old_snapshot(leads_db)
    releaser = threading.Timer(1.0, blocker.rollback)
    releaser.start()
    lines: list[str] = []
    try:
        results = reindex_tables(
            leads_db, ("email_events",), lock_timeout_ms=300, log=lines.append, attempts=8, retry_delay_s=0.2
        )
    finally:
        releaser.join()
        blocker.close()
    [result] = results
    assert result["status"] == "reindexed", result
    assert result["attempts"] >= 2
    # The first attempt timed out after building *_ccnew copies; they were dropped, not left INVALID.
    assert result["leftovers_dropped"] and all("_ccnew" in name for name in result["leftovers_dropped"])
    assert result["invalid_indexes"] == [] and find_invalid_indexes(db) == []
    assert any("LockNotAvailable" in line and "attempt 1/8" in line for line in lines)
    assert lines[-1].startswith(f"reindex email_events: {index_count(db, 'email_events')} indexes rebuilt")


def test_one_table_failing_does_not_stop_the_run(leads_db, db):
    bulk_sends(db, 500)
    blocker = hold_old_snapshot(leads_db)
    lines: list[str] = []
    try:
        results = reindex_tables(
            leads_db,
            ("no_such_table", "email_events", "email_sends"),
            lock_timeout_ms=200,
            log=lines.append,
            attempts=2,
            retry_delay_s=0.05,
        )
    finally:
        blocker.close()
    by_table = {r["table"]: r for r in results}
    assert by_table["no_such_table"]["status"] == "failed"
    assert by_table["no_such_table"]["error"] == "no such table"
    for table in ("email_events", "email_sends"):
        assert by_table[table]["status"] == "failed"
        assert by_table[table]["attempts"] == 2
        assert by_table[table]["error"].startswith("LockNotAvailable")
    assert "reindex email_sends: FAILED after 2 attempt(s): LockNotAvailable" in "\n".join(lines)
    # Nothing half-built is left behind.
    assert find_invalid_indexes(db) == []


def test_invalid_index_is_found_skipped_by_reindex_and_dropped(leads_db, db):
    bulk_sends(db, 50)
    send_id = db.execute("SELECT MIN(id) FROM email_sends").fetchone()[0]
    seed = Seed(db, now=NOW)
    seed.event(send_id, "open", event_hash="dup")
    seed.event(send_id, "open", event_hash="dup")  # the same hash twice: no UNIQUE index on it
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(
            "CREATE UNIQUE INDEX CONCURRENTLY email_events_event_hash_uniq ON email_events (event_hash)"
        )

    [invalid] = find_invalid_indexes(db)
    assert invalid["index_name"] == "email_events_event_hash_uniq"
    assert invalid["qualified_name"] == "public.email_events_event_hash_uniq"
    assert invalid["table_name"] == "email_events"
    assert invalid["is_ccnew"] is False and invalid["is_ccold"] is False
    assert invalid["build_in_progress"] is False
    assert "UNIQUE INDEX email_events_event_hash_uniq" in invalid["definition"]

    # REINDEX TABLE CONCURRENTLY skips it (with a warning) and reports it; it does not drop it.
    [result] = reindex_tables(leads_db, ("email_events",), log=lambda line: None)
    assert result["status"] == "reindexed"
    assert result["invalid_indexes"] == ["email_events_event_hash_uniq"]
    assert any("invalid index" in notice for notice in result["notices"])

    lines: list[str] = []
    dropped = drop_invalid_indexes(leads_db, [invalid["qualified_name"]], lines.append)
    assert [(d["index"], d["status"]) for d in dropped] == [
        ("public.email_events_event_hash_uniq", "dropped")
    ]
    assert find_invalid_indexes(db) == []
    assert db.execute("SELECT TO_REGCLASS('email_events_event_hash_uniq')").fetchone()[0] is None


def test_drop_invalid_indexes_never_drops_a_valid_index(leads_db, db):
    lines: list[str] = []
    results = drop_invalid_indexes(
        leads_db,
        ["email_sends_created_covering_idx", "no_such_index", "x; DROP TABLE email_sends"],
        lines.append,
    )
    assert [r["status"] for r in results] == ["skipped", "missing", "missing"]
    assert results[0]["error"] == "index is valid; only INVALID indexes are dropped"
    assert db.execute("SELECT TO_REGCLASS('email_sends_created_covering_idx')").fetchone()[0] is not None
    assert db.execute("SELECT TO_REGCLASS('email_sends')").fetchone()[0] is not None


def test_analyze_updates_statistics_and_reports_a_missing_table(leads_db, db):
    bulk_sends(db, 137)
    lines: list[str] = []
    results = analyze_tables(leads_db, ("email_sends", "email_events", "no_such_table"), lines.append)
    assert [(r["table"], r["status"], r["estimated_rows"]) for r in results] == [
        ("email_sends", "analyzed", 137),
        ("email_events", "analyzed", 137),
        ("no_such_table", "failed", None),
    ]
    assert (
        db.execute("SELECT reltuples FROM pg_class WHERE oid = 'email_sends'::regclass").fetchone()[0] == 137
    )
    assert lines[-1] == "analyze no_such_table: FAILED: no such table"


def test_connect_may_be_a_callable_giving_a_transactional_connection(leads_db, db):
    """The task passes a factory such as partial(db.connect, ...) or a plain psycopg connection that is
    not in autocommit mode; REINDEX CONCURRENTLY still runs outside a transaction block."""
    bulk_sends(db, 100)
    [result] = reindex_tables(lambda: psycopg.connect(leads_db), ("email_sends",), log=lambda line: None)
    assert result["status"] == "reindexed", result
    [analyzed] = analyze_tables({"conninfo": leads_db}, ("email_sends",), lambda line: None)
    assert analyzed["estimated_rows"] == 100


def test_works_with_the_package_connection_helper(leads_db, db):
    """nurture_ops.db.connect (the Airflow connection `leads_db`, statement_timeout preset)."""
    from nurture_ops.core import db as nurture_db

    bulk_sends(db, 10)
    connect = functools.partial(nurture_db.connect, autocommit=False)
    [result] = reindex_tables(connect, ("email_sends",), log=lambda line: None)
    assert result["status"] == "reindexed", result
    with maintenance.maintenance_connection(connect, lock_timeout_ms=1234) as conn:
        assert conn.autocommit is True
        assert conn.execute("SHOW lock_timeout").fetchone()["lock_timeout"] == "1234ms"
        assert conn.execute("SHOW statement_timeout").fetchone()["statement_timeout"] == "1h"
