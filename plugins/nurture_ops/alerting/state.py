"""Alert state beside the data: the only module that decides whether a message is sent.

What Alertmanager gives and Airflow lacks, kept in `nurture_ops.alert_state`:
- one message when an alert starts firing, none while it keeps firing, a reminder after the
  repeat interval, one [RESOLVED] message when it clears;
- inhibition: an alert whose root cause is firing (see Check.inhibited_by) is recorded, not sent;
- silences: a silenced alert is recorded, not sent, and announced if it still fires when the
  silence ends;
- nothing lost: a message is marked notified only after Slack accepted it (`deliver`), under a
  row lock, re-checking that no overlapping run delivered it first.
Evaluation times come from the run; an evaluation older than the last one recorded (a rerun of a
past window) is reported but moves no state and sends nothing.

The statements are include/sql/ops/*.sql; the tables are created and changed by the numbered
migrations in include/sql/ops/migrations (`ensure_schema`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nurture_ops.core import db, sql
from nurture_ops.core.evaluate import SEVERITY_RANK, Finding

SCHEMA = "nurture_ops"
_SCHEMA_LOCK_KEY = 7_310_001  # pg advisory lock id: creating / migrating the nurture_ops schema
FUTURE_TOLERANCE = timedelta(minutes=15)
MIGRATIONS_DIR = "ops/migrations"  # under the sql root (nurture_ops.core.sql.sql_root())
_MIGRATION_NAME = re.compile(r"^(?P<version>\d+)_(?P<name>\w+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One file include/sql/ops/migrations/NNN_<name>.sql."""

    version: int
    name: str
    file: str  # relative to the sql root, as sql.render takes it


def migrations() -> list[Migration]:
    """The migration files, sorted by their number (listed when called, never at import)."""
    folder = sql.sql_root() / MIGRATIONS_DIR
    found: list[Migration] = []
    for path in folder.iterdir():
        if path.suffix != ".sql":
            continue
        match = _MIGRATION_NAME.match(path.name)
        if match is None or int(match["version"]) < 1:
            raise ValueError(f"{path}: a migration file is named NNN_<name>.sql with NNN >= 1")
        found.append(Migration(int(match["version"]), match["name"], f"{MIGRATIONS_DIR}/{path.name}"))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"{folder}: two migration files share a number: {[m.file for m in found]}")
    if not found:
        raise FileNotFoundError(f"{folder}: no migration files")
    return found


def schema_version(conn) -> int:
    """The newest migration applied to this database (0: none recorded). One query."""
    return db.fetch_one(conn, "ops/select_schema_migration_version.sql", schema=SCHEMA)["version"]


def ensure_schema(conn) -> None:
    """Bring the nurture_ops tables up to the newest migration; safe when several tasks start at once.

    Up to date (the usual case): one query, nothing else. Otherwise, under a session-level
    advisory lock, re-read the version (a concurrent caller may have migrated meanwhile) and
    apply each pending migration in a transaction of its own, together with its row in
    schema_migrations. A database created before migrations existed (the tables, no version
    rows) is at version 0: migration 001 is idempotent and passes it through unchanged.
    On a connection that is not in autocommit mode, an open transaction of the caller is
    committed first (each migration is its own transaction).
    """
    pending = migrations()
    if schema_version(conn) >= pending[-1].version:
        return
    lock = {"lock_key": _SCHEMA_LOCK_KEY}
    if not conn.autocommit:
        conn.commit()
    with conn.transaction():  # the session lock outlives this transaction
        db.fetch_one(conn, "ops/lock_nurture_ops_schema.sql", lock)
    try:
        with conn.transaction():
            db.execute(conn, "ops/create_schema_migrations.sql", schema=SCHEMA)
            applied = schema_version(conn)
        for migration in pending:
            if migration.version <= applied:
                continue
            with conn.transaction():
                db.execute(conn, migration.file, schema=SCHEMA)
                db.execute(
                    conn,
                    "ops/insert_schema_migration.sql",
                    {"version": migration.version, "name": migration.name},
                    schema=SCHEMA,
                )
    finally:
        if not conn.closed:  # a lost session has released its lock already
            with conn.transaction():
                db.fetch_one(conn, "ops/unlock_nurture_ops_schema.sql", lock)


@dataclass(frozen=True)
class Decision:
    """What to tell Slack about one evaluation, and the state it was decided against."""

    alert_key: str
    scope: str
    kind: str | None  # fire | remind | resolve | None
    reason: str
    evaluated_at: str
    firing: bool
    first_fired_at: str | None = None
    seen_notified_state: str | None = None
    seen_last_notified_at: str | None = None
    seen_notified_severity: str | None = None
    silence_ended: bool = False
    silenced_until: str | None = None
    inhibited_by: str | None = None

    @property
    def due(self) -> bool:
        return self.kind is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        return cls(**data)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _lock_row(conn, key: str, scope: str) -> dict:
    """The alert's state row (created if missing), locked until the caller's transaction ends."""
    params = {"alert_key": key, "scope": scope}
    db.execute(conn, "ops/insert_alert_state.sql", params, schema=SCHEMA)
    return db.fetch_one(conn, "ops/lock_alert_state.sql", params, schema=SCHEMA)


def active_silence(conn, key: str, scope: str, at: datetime) -> dict | None:
    return db.fetch_one(
        conn, "ops/select_active_silence.sql", {"alert_key": key, "scope": scope, "at": at}, schema=SCHEMA
    )


def firing_inhibitor(conn, inhibitions: tuple) -> str | None:
    """The first root cause (catalog Inhibition) now firing, if any, as recorded in alert_state."""
    for inhibition in inhibitions:
        if db.fetch_one(
            conn,
            "ops/select_firing_inhibitor.sql",
            {"root": inhibition.root, "cause": inhibition.cause},
            schema=SCHEMA,
        ):
            return inhibition.root
    return None


def record(
    conn,
    finding: Finding,
    *,
    evaluated_at: datetime,
    repeat_interval: timedelta,
    inhibitors: tuple = (),
    renotify_on_change: str | None = None,
) -> Decision:
    """Record one evaluation and decide whether Slack must hear about it (one transaction)."""
    key, scope = finding.check_key, finding.scope
    with conn.transaction():
        row = _lock_row(conn, key, scope)
        base = {
            "alert_key": key,
            "scope": scope,
            "evaluated_at": evaluated_at.isoformat(),
            "seen_notified_state": row["notified_state"],
            "seen_last_notified_at": _iso(row["last_notified_at"]),
            "seen_notified_severity": row["notified_severity"],
        }
        # Sanity guard on the wall clock (not a data window): a run dated in the future (a typo in
        # `dags test`, a local-time logical date) would otherwise make every real run "stale".
        if evaluated_at > datetime.now(UTC) + FUTURE_TOLERANCE:
            return Decision(
                **base,
                kind=None,
                firing=row["firing"],
                reason=f"not recorded: evaluation time {evaluated_at.isoformat()} is in the future",
            )
        if row["last_evaluated_at"] is not None and evaluated_at < row["last_evaluated_at"]:
            return Decision(
                **base,
                kind=None,
                firing=row["firing"],
                reason=f"stale: a later evaluation ({row['last_evaluated_at'].isoformat()}) is already recorded",
            )
        silence = active_silence(conn, key, scope, evaluated_at)
        inhibitor = firing_inhibitor(conn, inhibitors) if finding.firing else None
        was_silenced = row["silenced"]
        firing = row["firing"]
        first_fired_at = row["first_fired_at"]
        kind, reason = None, "nothing new"
        if finding.status == "no_data":
            reason = "no data: state kept as it was"
        elif finding.firing:
            if not firing:
                firing, first_fired_at = True, evaluated_at
            escalated = SEVERITY_RANK[finding.status] > SEVERITY_RANK.get(row["notified_severity"] or "ok", 0)
            if inhibitor:
                reason = f"inhibited by {inhibitor}"
            elif silence:
                reason = f"silenced until {silence['ends_at'].isoformat()}: {silence['reason']}"
            elif row["notified_state"] != "firing" or escalated:
                kind, reason = "fire", "started firing" if row["notified_state"] != "firing" else "escalated"
            elif was_silenced:
                kind, reason = "fire", "silence ended, still firing"
            elif renotify_on_change and (row["notified_value"] or {}).get(
                renotify_on_change
            ) != finding.metrics.get(renotify_on_change):
                kind, reason = "fire", f"changed: {finding.metrics.get(renotify_on_change)}"
            elif evaluated_at - row["last_notified_at"] >= repeat_interval:
                kind, reason = "remind", f"still firing after {repeat_interval}"
            else:
                reason = "still firing, already notified"
        else:
            firing = False
            if row["notified_state"] == "firing" and not silence:
                kind, reason = "resolve", "cleared"
            elif row["notified_state"] == "firing":
                reason = "cleared while silenced"
        silenced = row["silenced"] if finding.status == "no_data" else bool(silence) and finding.firing
        db.execute(
            conn,
            "ops/update_alert_state_evaluation.sql",
            {
                "firing": firing,
                "status": finding.status,
                "severity": finding.status if finding.firing else row["severity"],
                "first_fired_at": first_fired_at if firing else None,
                "evaluated_at": evaluated_at,
                "last_value": json.dumps(finding.metrics, default=str),
                "last_summary": finding.summary,
                "inhibited_by": inhibitor,
                "silenced": silenced,
                "alert_key": key,
                "scope": scope,
            },
            schema=SCHEMA,
        )
        return Decision(
            **base,
            kind=kind,
            firing=firing,
            reason=reason,
            first_fired_at=_iso(first_fired_at),
            silence_ended=kind == "fire" and was_silenced and not silence,
            silenced_until=_iso(silence["ends_at"]) if silence else None,
            inhibited_by=inhibitor,
        )


def deliver(
    conn,
    decision: Decision,
    send: Callable[[], None],
    *,
    severity: str | None,
    text: str,
    slack_conn_id: str,
    dag_id: str | None = None,
    run_id: str | None = None,
    value: dict | None = None,
) -> bool:
    """Send `decision` once: re-check under the row lock, send, then mark notified.

    Returns False when an overlapping run already delivered it. If `send` raises, nothing is
    marked and the next evaluation decides to send again.
    """
    evaluated_at = datetime.fromisoformat(decision.evaluated_at)
    with conn.transaction():
        row = _lock_row(conn, decision.alert_key, decision.scope)
        if row["notified_state"] != decision.seen_notified_state or _iso(row["last_notified_at"]) != (
            decision.seen_last_notified_at
        ):
            return False  # an overlapping run delivered it
        if row["last_evaluated_at"] is not None and row["last_evaluated_at"] > evaluated_at:
            return False  # a later evaluation exists (e.g. an old notify cleared by hand): it decides
        send()
        notified_state = "resolved" if decision.kind == "resolve" else "firing"
        db.execute(
            conn,
            "ops/update_alert_state_notified.sql",
            {
                "notified_state": notified_state,
                "notified_severity": severity if notified_state == "firing" else None,
                "notified_at": evaluated_at,
                "notified_value": json.dumps(value, default=str) if value is not None else None,
                "alert_key": decision.alert_key,
                "scope": decision.scope,
            },
            schema=SCHEMA,
        )
        _insert_notification(
            conn,
            alert_key=decision.alert_key,
            scope=decision.scope,
            kind=decision.kind,
            severity=severity,
            text=text,
            slack_conn_id=slack_conn_id,
            dag_id=dag_id,
            run_id=run_id,
            evaluated_at=evaluated_at,
        )
    return True


def _insert_notification(conn, **row: Any) -> None:
    """The record of a message Slack accepted (alert_notifications), in the caller's transaction."""
    db.execute(conn, "ops/insert_alert_notification.sql", row, schema=SCHEMA)


def held_back_by(conn, root_key: str) -> list[dict]:
    """Alerts currently firing but inhibited by `root_key`, to be named in the root's message."""
    return db.fetch_all(conn, "ops/select_held_back_alerts.sql", {"root_key": root_key}, schema=SCHEMA)


def add_silence(
    conn,
    alert_key: str,
    *,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    scope: str | None = None,
    created_by: str = "nurture_ops",
) -> int:
    row = db.fetch_one(
        conn,
        "ops/insert_alert_silence.sql",
        {
            "alert_key": alert_key,
            "scope": scope,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "reason": reason,
            "created_by": created_by,
        },
        schema=SCHEMA,
    )
    return row["id"]


def end_silence(conn, silence_id: int, *, at: datetime) -> None:
    db.execute(conn, "ops/end_alert_silence.sql", {"ends_at": at, "silence_id": silence_id}, schema=SCHEMA)


def send_once(
    conn,
    key: str,
    scope: str,
    send: Callable[[], None],
    *,
    text: str,
    slack_conn_id: str,
    evaluated_at: datetime,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> bool:
    """Send a report at most once per (key, scope), e.g. one daily digest per day.

    Under the row lock: already sent -> False; else send, then record it. A failed send records
    nothing, so a retry sends it."""
    with conn.transaction():
        row = _lock_row(conn, key, scope)
        if row["notified_state"] is not None:
            return False
        send()
        db.execute(
            conn,
            "ops/update_alert_state_report_sent.sql",
            {"sent_at": evaluated_at, "text": text, "alert_key": key, "scope": scope},
            schema=SCHEMA,
        )
        _insert_notification(
            conn,
            alert_key=key,
            scope=scope,
            kind="report",
            severity=None,
            text=text,
            slack_conn_id=slack_conn_id,
            dag_id=dag_id,
            run_id=run_id,
            evaluated_at=evaluated_at,
        )
    return True


def send_unless_repeated(
    conn, key: str, scope: str, text: str, send: Callable[[], None], *, at: datetime, repeat: timedelta
) -> bool:
    """Send unless the same `text` went out for (key, scope) within `repeat` before `at`.

    For messages that have no resolve (task failures): the same text once per interval, a new
    text at once. Recorded only after `send` succeeded, under the row lock, so a failed post is
    retried by the next failure and two overlapping callbacks send once."""
    with conn.transaction():
        row = _lock_row(conn, key, scope)
        last = row["last_notified_at"]
        if row["last_summary"] == text and last is not None and timedelta(0) <= at - last < repeat:
            return False
        send()
        db.execute(
            conn,
            "ops/update_alert_state_message_sent.sql",
            {"text": text, "sent_at": at, "alert_key": key, "scope": scope},
            schema=SCHEMA,
        )
    return True


# ---- Database Connection Lost: the one state kept outside the database ------------------------
# The database that holds every other alert state is the one that is down, so the outage alert's
# state lives in an Airflow Variable (JSON), written only by the 5-minute DAG.

OUTAGE_VARIABLE = "nurture_ops_database_outage"


def read_outage() -> dict:
    """The recorded outage ({} when none)."""
    from airflow.sdk import Variable

    raw = Variable.get(OUTAGE_VARIABLE, default=None)
    return json.loads(raw) if raw else {}


def write_outage(outage: dict) -> None:
    from airflow.sdk import Variable

    Variable.set(OUTAGE_VARIABLE, json.dumps(outage))


def clear_outage() -> None:
    from airflow.sdk import Variable

    Variable.delete(OUTAGE_VARIABLE)
