"""Alert state beside the data: the only module that decides whether a message is sent.

What Alertmanager gives and Airflow lacks, kept in `nurture_ops.alert_state`:
- one message when an alert starts firing, none while it keeps firing, a reminder after the
  repeat interval, one [RESOLVED] message when it clears;
- inhibition: an alert whose root cause is firing (see Check.inhibited_by) is recorded, not sent;
- silences: a silenced alert is recorded, not sent, and announced if it still fires when the
  silence ends;
- acknowledgements (the Lead Nurture page): an acknowledged alert sends no reminders until it
  resolves or fires at a higher severity than the one acknowledged (see "Operator actions");
- nothing lost: a message is marked notified only after Slack accepted it (see Delivery).
Evaluation times come from the run; an evaluation older than the last one recorded (a rerun of a
past window) is reported but moves no state and sends nothing.

Delivery (`deliver`, `send_once`, `send_unless_repeated`, one protocol: `_send_with_intent`): Slack is
never called under a lock.
1. Under the alert_state row lock, in a short transaction, a run re-checks that no overlapping run
   delivered the message and records its intent to send it (sending_token, sending_since,
   sending_kind, sending_text, sending_run); it commits.
2. It posts with no lock held and no transaction open.
3. It marks the message sent in a second short transaction, a compare-and-set on its token, with
   the message's alert_notifications row (only posts Slack accepted are recorded there).
The guarantee:
- At least once. A message is marked sent only after Slack accepted it. A post that fails (Slack
  down, refusing, timing out) withdraws the intent and raises; the next evaluation or retry sends.
- A duplicate only after a crash between post and mark (task killed, database lost after Slack
  answered; also a post whose answer was lost after Slack took it): whoever takes the intent
  over posts the message once more.
- An overlapping run that finds a fresh intent of another run does not send: it leaves the
  message to the owner (`deliver`, `send_once`, and `send_unless_repeated` for the same text,
  return False). An intent older than SENDING_STALE_AFTER (2 minutes: two attempts of the Slack
  client's 10 s timeout, with margin), or one left by an earlier try of the same run (Airflow
  runs one try of a task at a time), is taken over by the next run: nothing is lost when the
  sender died before posting.
- A post slower than SENDING_STALE_AFTER (the Slack client's timeout rules it out) may be
  duplicated by a run that took the intent over; the slow one then finds its token gone, records
  its alert_notifications row and leaves the state to the new owner.
- A run never waits on another run's post: decide (`record`) and the re-checks take the row lock
  for a few statements only.

Database Connection Lost keeps its state in an Airflow Variable (the database is what is down),
with the same protocol on a JSON document (`page_outage`): see the section at the end.

The statements are include/sql/ops/*.sql; the tables are created and changed by the numbered
migrations in include/sql/ops/migrations (`ensure_schema`).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from psycopg.pq import TransactionStatus

from nurture_ops.core import db, escalation, sql
from nurture_ops.core.evaluate import SEVERITY_RANK, Finding

log = logging.getLogger(__name__)

SCHEMA = "nurture_ops"
_SCHEMA_LOCK_KEY = 7_310_001  # pg advisory lock id: creating / migrating the nurture_ops schema
FUTURE_TOLERANCE = timedelta(minutes=15)
# An intent to send older than this is taken over: its sender is presumed dead. Above the worst
# post (notify.SLACK_TIMEOUT_SECONDS = 10 s for connect and for read, one retry on a connection
# error: about 40 s), far below the 5-minute cadence, so the next scheduled run takes it over.
SENDING_STALE_AFTER = timedelta(minutes=2)
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
    inhibitor_firing: str | None = None,
) -> Decision:
    """Record one evaluation and decide whether Slack must hear about it (one transaction).

    `inhibitor_firing`: an alert the caller knows fires and inhibits this one (the global alert of
    a check, for its per-organization states)."""
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
        if finding.firing:
            inhibitor = inhibitor_firing or firing_inhibitor(conn, inhibitors)
        else:  # no data keeps the state as it was, inhibition included (as `silenced` below)
            inhibitor = row["inhibited_by"] if finding.status == "no_data" else None
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
        kind, reason = _acknowledgement(conn, row, finding, firing=firing, kind=kind, reason=reason)
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


def _run_name(dag_id: str | None, run_id: str | None) -> str | None:
    """'<dag_id>/<run_id>', the sender recorded with an intent (None outside a run)."""
    return f"{dag_id}/{run_id}" if run_id else None


def _outside_transaction(conn) -> None:
    """Make sure the intent is committed before the post: nothing of the caller stays open.

    On a connection not in autocommit mode the caller's open transaction (its reads so far) is
    committed; psycopg refuses that inside a `with conn.transaction()` block of the caller, and so
    does this on an autocommit connection: the delivery functions are never called inside one.
    """
    if not conn.autocommit:
        conn.commit()
    elif conn.info.transaction_status != TransactionStatus.IDLE:
        raise RuntimeError("deliver/send_once/send_unless_repeated must not run inside a transaction")


def _pending_elsewhere(row: dict, run: str | None) -> str | None:
    """Why a pending intent keeps this run from sending (None: no intent, or one it takes over)."""
    if row["sending_token"] is None:
        return None
    where = f"{row['alert_key']}/{row['scope']}"
    holder = row["sending_run"] or "a callback"
    age = row["sending_age"]
    if age is not None and age >= SENDING_STALE_AFTER:
        log.warning(
            "%s: taking over a stale intent to send (%s by %s, %s old); it may have reached Slack already",
            where,
            row["sending_kind"],
            holder,
            age,
        )
        return None
    if run is not None and row["sending_run"] == run:
        log.warning("%s: taking over the intent of an earlier try of this run (%s)", where, run)
        return None
    return f"{holder} has been sending it ({row['sending_kind']}) for {age}"


def _claim(conn, key: str, scope: str, *, kind: str, text: str, run: str | None) -> uuid.UUID:
    """Record the intent to send, in the caller's transaction under the row lock; its token."""
    token = uuid.uuid4()
    db.execute(
        conn,
        "ops/update_alert_state_sending.sql",
        {"token": token, "kind": kind, "text": text, "run": run, "alert_key": key, "scope": scope},
        schema=SCHEMA,
    )
    return token


def _post(conn, key: str, scope: str, token: uuid.UUID, send: Callable[[], None]) -> None:
    """Call `send` with no transaction open. If it raises an Exception (Slack down, refused, timed
    out), withdraw the intent so that the next run sends at once, and re-raise. On a BaseException
    (the task killed) the intent stays: it goes stale, or the retry of the run takes it over."""
    try:
        send()
    except Exception:
        try:
            with conn.transaction():
                db.fetch_one(
                    conn,
                    "ops/update_alert_state_send_failed.sql",
                    {"token": token, "alert_key": key, "scope": scope},
                    schema=SCHEMA,
                )
        except Exception:  # the send error is the one to report; the intent goes stale instead
            log.warning("%s/%s: could not withdraw the intent to send", key, scope, exc_info=True)
        raise


def _marked(row: dict | None, key: str, scope: str) -> None:
    if row is None:
        log.warning(
            "%s/%s: posted, but another run took the intent over meanwhile (a duplicate); it marks it",
            key,
            scope,
        )


def _send_with_intent(
    conn,
    key: str,
    scope: str,
    send: Callable[[], None],
    *,
    kind: str,
    text: str,
    run: str | None,
    done: Callable[[dict], bool],
    mark_sql: str,
    mark: dict[str, Any],
    same_text_only: bool = False,
    notification: dict[str, Any] | None = None,
) -> bool:
    """The Delivery protocol (module docstring) for `deliver`, `send_once` and `send_unless_repeated`.

    Under the row lock: `done(row)` (already delivered, or decided later) -> False; a fresh intent
    of an overlapping sender (with `same_text_only`, only one for the same text) -> False; else
    record the intent (`kind`, `text`) and commit. Post with no transaction open, then mark it sent
    with `mark_sql` (`mark` and the token: a compare-and-set), with its alert_notifications row
    (`notification`: the row's other fields) if any, in a second transaction; True.
    """
    _outside_transaction(conn)
    with conn.transaction():
        row = _lock_row(conn, key, scope)
        if done(row):
            return False
        busy = None if same_text_only and row["sending_text"] != text else _pending_elsewhere(row, run)
        if busy:
            log.info("%s/%s: %s left to the overlapping sender: %s", key, scope, kind, busy)
            return False
        token = _claim(conn, key, scope, kind=kind, text=text, run=run)
    _post(conn, key, scope, token, send)
    with conn.transaction():
        marked = db.fetch_one(
            conn, mark_sql, {**mark, "token": token, "alert_key": key, "scope": scope}, schema=SCHEMA
        )
        _marked(marked, key, scope)
        if notification is not None:
            _insert_notification(conn, alert_key=key, scope=scope, kind=kind, text=text, **notification)
    return True


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
    """Send `decision` once (see Delivery in the module docstring): re-check and record the intent
    under the row lock, commit, send, then mark notified (compare-and-set on the intent's token).

    Returns True when this call posted the message; False when an overlapping run already
    delivered it, is delivering it (a fresh intent), or a later evaluation exists. If `send` raises,
    nothing is marked, the intent is withdrawn and the next evaluation decides to send again.
    An open transaction of the caller is committed first (nothing may stay open during the post).
    """
    evaluated_at = datetime.fromisoformat(decision.evaluated_at)

    def done(row: dict) -> bool:
        if row["notified_state"] != decision.seen_notified_state or _iso(row["last_notified_at"]) != (
            decision.seen_last_notified_at
        ):
            return True  # an overlapping run delivered it
        # A later evaluation exists (e.g. an old notify cleared by hand): it decides.
        return row["last_evaluated_at"] is not None and row["last_evaluated_at"] > evaluated_at

    notified_state = "resolved" if decision.kind == "resolve" else "firing"
    return _send_with_intent(
        conn,
        decision.alert_key,
        decision.scope,
        send,
        kind=decision.kind,
        text=text,
        run=_run_name(dag_id, run_id),
        done=done,
        mark_sql="ops/update_alert_state_notified.sql",
        mark={
            "notified_state": notified_state,
            "notified_severity": severity if notified_state == "firing" else None,
            "notified_at": evaluated_at,
            "notified_value": json.dumps(value, default=str) if value is not None else None,
        },
        notification={
            "severity": severity,
            "slack_conn_id": slack_conn_id,
            "dag_id": dag_id,
            "run_id": run_id,
            "evaluated_at": evaluated_at,
        },
    )


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
    """Send a report at most once per (key, scope), e.g. one daily digest per day (see Delivery).

    Under the row lock: already sent, or being sent by an overlapping run (a fresh intent) -> False;
    else record the intent, commit, send, then record it sent. A failed send records nothing, so a
    retry sends it. An open transaction of the caller is committed first."""
    return _send_with_intent(
        conn,
        key,
        scope,
        send,
        kind="report",
        text=text,
        run=_run_name(dag_id, run_id),
        done=lambda row: row["notified_state"] is not None,
        mark_sql="ops/update_alert_state_report_sent.sql",
        mark={"sent_at": evaluated_at, "text": text},
        notification={
            "severity": None,
            "slack_conn_id": slack_conn_id,
            "dag_id": dag_id,
            "run_id": run_id,
            "evaluated_at": evaluated_at,
        },
    )


def send_unless_repeated(
    conn, key: str, scope: str, text: str, send: Callable[[], None], *, at: datetime, repeat: timedelta
) -> bool:
    """Send unless the same `text` went out for (key, scope) within `repeat` before `at`.

    For messages that have no resolve (task failures): the same text once per interval, a new
    text at once. Recorded only after `send` succeeded (see Delivery), so a failed post is retried
    by the next failure; two overlapping callbacks with the same text send once (the second finds
    the first one's fresh intent), with different texts both send. An open transaction of the
    caller is committed first."""

    def done(row: dict) -> bool:
        last = row["last_notified_at"]
        return row["last_summary"] == text and last is not None and timedelta(0) <= at - last < repeat

    # A fresh intent for another text is overwritten: both messages go out, the later is kept.
    return _send_with_intent(
        conn,
        key,
        scope,
        send,
        kind="message",
        text=text,
        run=None,
        done=done,
        mark_sql="ops/update_alert_state_message_sent.sql",
        mark={"text": text, "sent_at": at},
        same_text_only=True,
    )


# ---- Grouped delivery: one Slack message for the organizations of one check --------------------
# The Delivery protocol above over several alert states at once (alerting.organizations): under
# each state's row lock (rows taken in scope order, so overlapping runs never deadlock) the
# decision is re-checked and its intent recorded; one commit; one post with no lock held; then
# every state is marked notified (compare-and-set on its token) in one transaction, each with its
# alert_notifications row. A state an overlapping run delivered, or is delivering (a fresh
# intent), is left out of this message: that run's message names it. A failed post withdraws
# every intent of the message and raises, so the next run sends the group again.


def organization_scopes(conn, key: str) -> set[str]:
    """The per-organization scopes of `key` firing or last notified as firing: the ones a run
    records again even when they are ok now (to resolve them)."""
    rows = db.fetch_all(conn, "ops/select_organization_alert_states.sql", {"alert_key": key}, schema=SCHEMA)
    return {row["scope"] for row in rows}


def _delivered_since(row: dict, decision: Decision) -> bool:
    """True when `decision` is no longer the one to send: an overlapping run delivered it (what
    Slack heard changed since it was decided), or a later evaluation decides instead."""
    if row["notified_state"] != decision.seen_notified_state or _iso(row["last_notified_at"]) != (
        decision.seen_last_notified_at
    ):
        return True
    evaluated_at = datetime.fromisoformat(decision.evaluated_at)
    return row["last_evaluated_at"] is not None and row["last_evaluated_at"] > evaluated_at


def deliver_group(
    conn,
    decisions: list[Decision],
    build: Callable[[list[Decision]], dict],
    send: Callable[[dict], None],
    *,
    severities: dict[str, str | None],
    slack_conn_id: str,
    dag_id: str | None = None,
    run_id: str | None = None,
    values: dict[str, dict] | None = None,
) -> list[Decision]:
    """Send the due `decisions` (one check, several scopes) as ONE message built by `build` from
    the decisions this run claimed; returns them ([] when an overlapping run has them all).

    `severities` / `values`: per scope, what Slack hears as firing (None on a resolve) and the
    metrics. If `send` raises, every intent is withdrawn and the error re-raised."""
    _outside_transaction(conn)
    run = _run_name(dag_id, run_id)
    due = sorted((d for d in decisions if d.due), key=lambda d: (d.alert_key, d.scope))
    claimed: list[tuple[Decision, uuid.UUID]] = []
    with conn.transaction():
        locked = []
        for decision in due:
            row = _lock_row(conn, decision.alert_key, decision.scope)
            if _delivered_since(row, decision):
                continue
            busy = _pending_elsewhere(row, run)
            if busy:
                log.info(
                    "%s/%s: left to the overlapping sender: %s", decision.alert_key, decision.scope, busy
                )
                continue
            locked.append(decision)
        if not locked:
            return []
        message = build(locked)
        for decision in locked:
            token = _claim(
                conn, decision.alert_key, decision.scope, kind=decision.kind, text=message["text"], run=run
            )
            claimed.append((decision, token))
    try:
        send(message)
    except Exception:
        for decision, token in claimed:
            try:
                with conn.transaction():
                    db.fetch_one(
                        conn,
                        "ops/update_alert_state_send_failed.sql",
                        {"token": token, "alert_key": decision.alert_key, "scope": decision.scope},
                        schema=SCHEMA,
                    )
            except Exception:
                log.warning(
                    "%s/%s: could not withdraw the intent", decision.alert_key, decision.scope, exc_info=True
                )
        raise
    with conn.transaction():
        for decision, token in claimed:
            notified_state = "resolved" if decision.kind == "resolve" else "firing"
            severity = severities.get(decision.scope) if notified_state == "firing" else None
            value = (values or {}).get(decision.scope)
            marked = db.fetch_one(
                conn,
                "ops/update_alert_state_notified.sql",
                {
                    "notified_state": notified_state,
                    "notified_severity": severity,
                    "notified_at": datetime.fromisoformat(decision.evaluated_at),
                    "notified_value": json.dumps(value, default=str) if value is not None else None,
                    "token": token,
                    "alert_key": decision.alert_key,
                    "scope": decision.scope,
                },
                schema=SCHEMA,
            )
            _marked(marked, decision.alert_key, decision.scope)
            _insert_notification(
                conn,
                alert_key=decision.alert_key,
                scope=decision.scope,
                kind=decision.kind,
                text=message["text"],
                severity=severity,
                slack_conn_id=slack_conn_id,
                dag_id=dag_id,
                run_id=run_id,
                evaluated_at=datetime.fromisoformat(decision.evaluated_at),
            )
    return [decision for decision, _ in claimed]


# ---- Pages and escalations: channels tracked apart from Slack ------------------------------------
# nurture_ops.alert_deliveries holds, per alert state (key, scope) and channel, what that channel
# last accepted, with its own intent to send (migration 003). The channels are reconciled with the
# alert states by a sweep each alert DAG runs after its checks decided (alerting.escalation), so a
# failed call is retried by the next run of any alert DAG, and Slack and PagerDuty never wait on,
# block or duplicate each other:
# - pagerduty: `trigger` once when a critical alert fires (not silenced, not inhibited), `resolve`
#   once when it clears; nothing on reminders (PagerDuty re-notifies by its escalation policy).
# - escalation: a Critical or High alert still firing `escalate_after` (core.escalation) its first
#   firing and not acknowledged is escalated once per firing to slack_escalation.
# The protocol is Delivery's: intent under the delivery row's lock (the due-ness re-decided there
# on the current alert state), commit, call with no lock held, mark with a compare-and-set.

PAGERDUTY = "pagerduty"
ESCALATION = "escalation"
_DELIVERED_STATE = {"trigger": "triggered", "resolve": "resolved", "escalate": "escalated"}


def page_action(row: dict) -> str | None:
    """What PagerDuty must hear about one alert state: 'trigger', 'resolve' or None. Pure."""
    if row["firing"]:
        if row["severity"] != "critical" or row["silenced"] or row["inhibited_by"]:
            return None
        return "trigger" if row["delivered_state"] != "triggered" else None
    return "resolve" if row["delivered_state"] == "triggered" else None


def escalation_due(row: dict, at: datetime, levels: dict | None = None) -> bool:
    """Whether one alert state is to be escalated now (once per firing). Pure: firing, not silenced nor inhibited, Critical or High (core.escalation), its
    response time passed since it first fired, not escalated for this firing, not acknowledged."""
    level = escalation.level_for(row["severity"], levels=levels)
    if level.escalate_after is None or row["severity"] not in escalation.SEVERITY_LEVELS:
        return False
    if not row["firing"] or row["silenced"] or row["inhibited_by"] or row["first_fired_at"] is None:
        return False
    if row["episode"] == row["first_fired_at"]:
        return False  # escalated already for this firing
    if at - row["first_fired_at"] < level.escalate_after:
        return False
    # Acknowledged on the Lead Nurture page at this severity or above: someone is on it.
    return not acknowledgement_holds(row, row["severity"])


def delivery_candidates(conn, channel: str, alert_keys: list[str]) -> list[dict]:
    """The alert states `channel` may have to hear about (due-ness: page_action, escalation_due)."""
    return db.fetch_all(
        conn,
        "ops/select_delivery_candidates.sql",
        {"channel": channel, "alert_keys": list(alert_keys)},
        schema=SCHEMA,
    )


def _withdraw_delivery(conn, channel: str, row: dict, token: uuid.UUID) -> None:
    try:
        with conn.transaction():
            db.fetch_one(
                conn,
                "ops/update_alert_delivery_send_failed.sql",
                {"token": token, "alert_key": row["alert_key"], "scope": row["scope"], "channel": channel},
                schema=SCHEMA,
            )
    except Exception:
        log.warning(
            "%s/%s: could not withdraw the %s intent", row["alert_key"], row["scope"], channel, exc_info=True
        )


def deliver_on_channel(
    conn,
    channel: str,
    targets: list[dict],
    decide: Callable[[dict], str | None],
    send: Callable[[list[dict]], str],
    *,
    at: datetime,
    conn_id: str,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> list[dict]:
    """Deliver to `channel` what is due for `targets` (alert states: alert_key, scope) in ONE call.

    Under each delivery row's lock `decide(row)` (the row: the delivery and its current alert
    state) says what is due ('trigger', 'resolve', 'escalate' or None); a fresh intent of an
    overlapping run leaves the row to it. The claimed rows (each with its "kind") go to
    `send(rows)`, which returns the text to record; then each is marked delivered. Returns the
    claimed rows ([] when nothing was due). If `send` raises, the intents are withdrawn and the
    error re-raised: the next run delivers again."""
    _outside_transaction(conn)
    run = _run_name(dag_id, run_id)
    claimed: list[tuple[dict, uuid.UUID]] = []
    with conn.transaction():
        for target in sorted(targets, key=lambda t: (t["alert_key"], t["scope"])):
            params = {"alert_key": target["alert_key"], "scope": target["scope"], "channel": channel}
            db.execute(conn, "ops/insert_alert_delivery.sql", params, schema=SCHEMA)
            row = db.fetch_one(conn, "ops/lock_alert_delivery.sql", params, schema=SCHEMA)
            kind = decide(row) if row else None
            if kind is None:
                continue
            busy = _pending_elsewhere(row, run)
            if busy:
                log.info(
                    "%s/%s: %s left to the overlapping sender: %s",
                    row["alert_key"],
                    row["scope"],
                    channel,
                    busy,
                )
                continue
            token = uuid.uuid4()
            db.execute(
                conn,
                "ops/update_alert_delivery_sending.sql",
                {**params, "token": token, "kind": kind, "run": run},
                schema=SCHEMA,
            )
            claimed.append(({**row, "kind": kind}, token))
    if not claimed:
        return []
    rows = [row for row, _ in claimed]
    try:
        text = send(rows)
    except Exception:
        for row, token in claimed:
            _withdraw_delivery(conn, channel, row, token)
        raise
    with conn.transaction():
        for row, token in claimed:
            kind = row["kind"]
            marked = db.fetch_one(
                conn,
                "ops/update_alert_delivery_delivered.sql",
                {
                    "delivered_state": _DELIVERED_STATE[kind],
                    "episode": row["episode"] if kind == "resolve" else row["first_fired_at"],
                    "dedup_key": escalation.dedup_key(row["alert_key"], row["scope"])
                    if channel == PAGERDUTY
                    else None,
                    "delivered_at": at,
                    "token": token,
                    "alert_key": row["alert_key"],
                    "scope": row["scope"],
                    "channel": channel,
                },
                schema=SCHEMA,
            )
            _marked(marked, row["alert_key"], row["scope"])
            _insert_notification(
                conn,
                alert_key=row["alert_key"],
                scope=row["scope"],
                kind=kind,
                text=text,
                severity=row["severity"],
                slack_conn_id=conn_id,
                dag_id=dag_id,
                run_id=run_id,
                evaluated_at=at,
            )
    return rows


# ---- Database Connection Lost: the one state kept outside the database ------------------------
# The database that holds every other alert state is the one that is down, so the outage alert's
# state lives in an Airflow Variable (JSON), written only by the 5-minute DAG:
#   {"first_failed_at": ISO, "notified": bool, "last_notified_at": ISO or null,
#    "error_class": ..., "error": ...,                      (the last failed probe)
#    "pending": null or {"token", "kind": fire|remind|resolve, "at": ISO (the run's time),
#                        "run_id", "try_number", "since": ISO (wall clock)}}
# No Variable (or {}) means no outage.
#
# The guarantee, the same as Delivery above, on a store without locks:
# - The intent ("pending") is written BEFORE the post, and the outage is marked notified (or, for
#   the resolve, the Variable deleted) only after Slack accepted it, with a compare-and-set on the
#   intent's token (re-read, write only while the token is still there). A failed post withdraws
#   the intent: the retry pages once. A crash before the post leaves the intent: the retry of the
#   same run (a higher try number) takes it over at once, any other run once it is older than
#   OUTAGE_STALE_AFTER: never silent. A crash between post and mark: a duplicate, once.
# - Two runs at the same time (a manual run beside the scheduled one) page once: after writing
#   its intent a run waits OUTAGE_SETTLE and re-reads; only the run whose token is still there
#   posts (Fischer's timed mutual exclusion). Exact while no run takes longer than OUTAGE_SETTLE
#   between reading the Variable and writing it; beyond that a duplicate, never a loss. A run that
#   finds a fresh intent of another run leaves the message to it. Runs one after the other: the
#   second sees "notified" and keeps the repeat interval (a run dated before the last page
#   pages nothing).
# - A Variable that is not JSON, not an object or has ill-typed fields is unknown state: a warning
#   is logged; while the database is down the run pages (fire) and overwrites it with a
#   well-formed state; once the database is back it is reset without a message. If the Variable
#   cannot be written (it is defined in an env var or a secrets backend, which win over the
#   metastore), the run pages without deduplication and logs an error.

OUTAGE_VARIABLE = "nurture_ops_database_outage"
OUTAGE_STALE_AFTER = SENDING_STALE_AFTER
OUTAGE_SETTLE = timedelta(seconds=2)
_OUTAGE_KINDS = ("fire", "remind", "resolve")


class OutageStore(Protocol):
    """Where the outage state is kept: raw text, None when absent."""

    def get(self) -> str | None: ...

    def set(self, value: str) -> None: ...

    def delete(self) -> None: ...


class VariableStore:
    """The Airflow Variable nurture_ops_database_outage, through the Task SDK (inside a task)."""

    key = OUTAGE_VARIABLE

    def get(self) -> str | None:
        from airflow.sdk import Variable

        return Variable.get(self.key, default=None)

    def set(self, value: str) -> None:
        from airflow.sdk import Variable

        Variable.set(self.key, value)

    def delete(self) -> None:
        from airflow.sdk import Variable

        Variable.delete(self.key)


# PagerDuty's page of Database Connection Lost: the same protocol on a Variable of its own, so
# that Slack and PagerDuty are tracked apart (one failing never blocks or duplicates the other),
# with no reminders (PagerDuty re-notifies by its own escalation policy): fire = trigger,
# resolve = resolve.
OUTAGE_PAGE_VARIABLE = "nurture_ops_database_outage_pagerduty"
OUTAGE_NEVER_REMIND = timedelta(days=36_500)


class PageVariableStore(VariableStore):
    """The Airflow Variable nurture_ops_database_outage_pagerduty (PagerDuty's page of the outage)."""

    key = OUTAGE_PAGE_VARIABLE


def _instant(value: Any) -> datetime | None:
    """An aware datetime from ISO text, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def parse_outage(raw: str | None) -> dict | None:
    """The outage state from the Variable's text: {} for none, None when unreadable (unknown).

    Pure. Unreadable: not JSON, not an object, or a field of the wrong type (a hand edit, a
    truncated write). A state written before intents existed (no "pending") reads as it was."""
    if raw is None or not raw.strip():
        return {}
    try:
        state = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(state, dict):
        return None
    if not state:
        return {}
    if not isinstance(state.get("notified", False), bool):
        return None
    if state.get("first_failed_at") is not None and _instant(state["first_failed_at"]) is None:
        return None
    if state.get("notified") and _instant(state.get("last_notified_at")) is None:
        return None
    pending = state.get("pending")
    if pending is not None:
        if not isinstance(pending, dict) or not isinstance(pending.get("token"), str):
            return None
        if pending.get("kind") not in _OUTAGE_KINDS:
            return None
        if _instant(pending.get("at")) is None or _instant(pending.get("since")) is None:
            return None
    return state


def _read_outage(store: OutageStore) -> tuple[str | None, dict | None]:
    """The Variable's text and its parsed state, with a warning when it is unreadable."""
    raw = store.get()
    state = parse_outage(raw)
    if state is None:
        log.warning(
            "Variable %s is not a well-formed outage state (treated as unknown, rewritten by the next "
            "page or recovery): %.200r",
            OUTAGE_VARIABLE,
            raw,
        )
    return raw, state


def read_outage(store: OutageStore | None = None) -> dict | None:
    """The recorded outage ({} when none; None, with a warning, when the Variable is unreadable)."""
    return _read_outage(store or VariableStore())[1]


def write_outage(outage: dict, store: OutageStore | None = None) -> None:
    (store or VariableStore()).set(json.dumps(outage))


def clear_outage(store: OutageStore | None = None) -> None:
    (store or VariableStore()).delete()


@dataclass(frozen=True)
class OutagePlan:
    """What one run does about Database Connection Lost (`plan_outage`).

    kind set: write `state` (it carries the intent, "pending"), then post `kind`.
    kind None, state set: write `state` without posting ({} clears it). Both None: nothing."""

    kind: str | None
    reason: str
    state: dict | None = None


def plan_outage(
    state: dict | None,
    *,
    reachable: bool,
    at: datetime,
    now: datetime,
    probe: dict | None = None,
    repeat: timedelta | None = None,
    run_id: str | None = None,
    try_number: int | None = None,
    stale_after: timedelta = OUTAGE_STALE_AFTER,
    token: str | None = None,
) -> OutagePlan:
    """Decide the Database Connection Lost message from the parsed state (None: unknown). Pure.

    `at` is the run's time, `now` the wall clock (the age of a pending intent), `probe` the failed
    probe's result, `repeat` the reminder interval (needed when unreachable). A pending intent of
    the same `run_id` with a lower try number (or any, when `try_number` is None, as the probe
    asks) belongs to a dead earlier try and is taken over."""
    unknown = state is None
    current = {} if unknown else {k: v for k, v in state.items() if k != "pending"}
    pending = None if unknown else state.get("pending")
    if pending:
        age = now - _instant(pending["since"])
        earlier_try = (
            run_id is not None
            and pending.get("run_id") == run_id
            and (try_number is None or (pending.get("try_number") or 0) < try_number)
        )
        if age < stale_after and not earlier_try:
            return OutagePlan(
                None,
                f"left to run {pending.get('run_id')}: it has been sending a {pending['kind']} for {age}",
            )

    def intent(kind: str, base: dict) -> dict:
        return {
            **base,
            "pending": {
                "token": token or uuid.uuid4().hex,
                "kind": kind,
                "at": at.isoformat(),
                "run_id": run_id,
                "try_number": try_number,
                "since": now.isoformat(),
            },
        }

    if reachable:
        if unknown:
            return OutagePlan(None, "unreadable outage state reset; the database is reachable", {})
        if current.get("notified") or pending:  # a pending page may have reached Slack: resolve it
            return OutagePlan("resolve", "the database is reachable again", intent("resolve", current))
        if current:
            return OutagePlan(None, "no outage was notified; state cleared", {})
        return OutagePlan(None, "no outage")
    if repeat is None:
        raise ValueError("plan_outage needs `repeat` when the database is unreachable")
    failed = {k: v for k, v in (probe or {}).items() if k != "ok"}
    base = {
        "notified": False,
        "last_notified_at": None,
        **current,
        **failed,
        "first_failed_at": current.get("first_failed_at") or at.isoformat(),
    }
    if unknown:
        return OutagePlan("fire", "outage state unreadable: paging", intent("fire", base))
    if current.get("notified"):
        last = _instant(current["last_notified_at"])
        if at == last:
            return OutagePlan(None, "already sent by this run")
        if at - last < repeat:  # also a run dated before the last page (a manual run, a rerun)
            return OutagePlan(None, f"already notified at {last.isoformat()}; reminder after {repeat}")
        return OutagePlan("remind", f"still unreachable after {repeat}", intent("remind", base))
    return OutagePlan("fire", "unreachable", intent("fire", base))


def outage_after_post(state: dict) -> dict | None:
    """The state once Slack accepted the pending message (None: delete the Variable). Pure."""
    pending = state["pending"]
    if pending["kind"] == "resolve":
        return None
    return {**state, "notified": True, "last_notified_at": pending["at"], "pending": None}


def _outage_swap(store: OutageStore, token: str, new: dict | None) -> bool:
    """Compare-and-set: replace the state (None: delete) only while it holds intent `token`."""
    current = parse_outage(store.get())
    if not current or (current.get("pending") or {}).get("token") != token:
        return False
    if new is None:
        store.delete()
    else:
        store.set(json.dumps(new))
    return True


def page_outage(
    send: Callable[[str, dict], None],
    *,
    reachable: bool,
    at: datetime,
    probe: dict | None = None,
    repeat: timedelta | None = None,
    run_id: str | None = None,
    try_number: int | None = None,
    store: OutageStore | None = None,
    settle: timedelta = OUTAGE_SETTLE,
    stale_after: timedelta = OUTAGE_STALE_AFTER,
) -> str:
    """Fire, remind or resolve Database Connection Lost with the guarantee described above.

    `send(kind, state)` posts the message (state: the outage, with first_failed_at and the probe's
    error). Returns the kind sent, or why nothing was sent. If `send` raises, the intent is
    withdrawn and the error re-raised (the task retries)."""
    store = store or VariableStore()
    raw, state = _read_outage(store)
    plan = plan_outage(
        state,
        reachable=reachable,
        at=at,
        now=datetime.now(UTC),
        probe=probe,
        repeat=repeat,
        run_id=run_id,
        try_number=try_number,
        stale_after=stale_after,
    )
    log.info("Database Connection Lost: %s (%s)", plan.kind or "nothing to send", plan.reason)
    if plan.kind is None:
        if plan.state is not None:
            try:  # a reset: best effort, the next run retries it
                if plan.state:
                    store.set(json.dumps(plan.state))
                else:
                    store.delete()
            except Exception:
                log.warning("Could not reset Variable %s", OUTAGE_VARIABLE, exc_info=True)
        return plan.reason
    written = json.dumps(plan.state)
    token = plan.state["pending"]["token"]
    store.set(written)
    time.sleep(settle.total_seconds())
    seen = store.get()
    writable = seen == written
    if not writable:
        if seen != raw:
            other = (parse_outage(seen) or {}).get("pending") or {}
            return f"left to run {other.get('run_id')}: it wrote its intent at the same time"
        log.error(
            "Variable %s did not take the write (defined in an env var or a secrets backend, which win "
            "over the metastore?): paging without deduplication",
            OUTAGE_VARIABLE,
        )
    try:
        send(plan.kind, plan.state)
    except Exception:
        if writable:
            _outage_swap(store, token, {**plan.state, "pending": None})
        raise
    if writable and not _outage_swap(store, token, outage_after_post(plan.state)):
        log.warning("Database Connection Lost: posted, but another run took the intent over meanwhile")
    return plan.kind


# ---- Operator actions (the Lead Nurture page): acknowledge, silence, lift --------------------------
# Every action records who did it (the Airflow user), when and why in nurture_ops.alert_actions;
# the alert's next Slack message reports the actions it has not reported yet (`unannounced_actions`,
# marked by `mark_actions_announced` once Slack accepted it).
#
# Acknowledgement: a firing alert acknowledged at its current severity sends no reminder while it
# keeps firing at that severity or below. It ends (the columns are cleared, under the row lock, in
# `record`) when the alert resolves or fires at a higher severity (a warning becoming critical: the
# "fire, escalated" message is sent as always). A silence and an acknowledgement are independent:
# a silence holds back every message for a while; an acknowledgement only the reminders, until the
# alert changes. A resolve is sent as usual (unless silenced) and ends the acknowledgement.


def acknowledgement_holds(row: dict, status: str) -> bool:
    """Whether the alert_state `row`'s acknowledgement covers a finding of `status`. Pure."""
    acknowledged = row.get("acknowledged_severity")
    if row.get("acknowledged_at") is None or acknowledged is None:
        return False
    return SEVERITY_RANK.get(status, 0) <= SEVERITY_RANK.get(acknowledged, 0)


def _acknowledgement(
    conn, row: dict, finding: Finding, *, firing: bool, kind: str | None, reason: str
) -> tuple[str | None, str]:
    """record()'s step for acknowledgements, under the row lock: a reminder of an acknowledged
    alert is not sent; a resolve, or a higher severity than acknowledged, ends the acknowledgement."""
    if row.get("acknowledged_at") is None or finding.status == "no_data":
        return kind, reason
    params = {"alert_key": row["alert_key"], "scope": row["scope"]}
    if not firing or not acknowledgement_holds(row, finding.status):
        db.execute(conn, "ops/clear_alert_state_acknowledgement.sql", params, schema=SCHEMA)
        return kind, reason
    if kind == "remind":
        return None, (
            f"acknowledged by {row['acknowledged_by']} at {row['acknowledged_at'].isoformat()}: "
            "no reminders until it resolves or worsens"
        )
    return kind, reason


def _record_action(
    conn,
    alert_key: str,
    scope: str | None,
    *,
    action: str,
    actor: str,
    reason: str,
    at: datetime,
    detail: dict | None = None,
) -> int:
    row = db.fetch_one(
        conn,
        "ops/insert_alert_action.sql",
        {
            "alert_key": alert_key,
            "scope": scope,
            "action": action,
            "actor": actor,
            "reason": reason,
            "detail": json.dumps(detail or {}, default=str),
            "acted_at": at,
        },
        schema=SCHEMA,
    )
    return row["id"]


def _require_reason(actor: str, reason: str) -> None:
    if not (actor or "").strip():
        raise ValueError("an operator action needs the user who takes it")
    if not (reason or "").strip():
        raise ValueError("an operator action needs a reason")


def acknowledge(conn, alert_key: str, scope: str = "", *, by: str, reason: str, at: datetime) -> int:
    """Acknowledge a firing alert (one scope) at its current severity; returns the action's id.

    Raises LookupError when the alert is not firing (nothing to acknowledge). One transaction:
    the acknowledgement and its alert_actions row."""
    _require_reason(by, reason)
    with conn.transaction():
        row = db.fetch_one(
            conn,
            "ops/update_alert_state_acknowledged.sql",
            {
                "acknowledged_at": at,
                "acknowledged_by": by,
                "acknowledged_reason": reason,
                "alert_key": alert_key,
                "scope": scope,
            },
            schema=SCHEMA,
        )
        if row is None:
            raise LookupError(f"{alert_key} ({scope or 'global'}) is not firing: nothing to acknowledge")
        return _record_action(
            conn,
            alert_key,
            scope,
            action="acknowledge",
            actor=by,
            reason=reason,
            at=at,
            detail={"severity": row["severity"]},
        )


def is_acknowledged(conn, alert_key: str, scope: str = "", *, severity: str | None = None) -> bool:
    """Whether the alert (one scope) is acknowledged now; with `severity`, whether that
    acknowledgement covers a finding of that severity (what an escalation step should ask
    before paging: an acknowledged alert is being handled). One query."""
    row = db.fetch_one(
        conn, "ops/select_alert_acknowledgement.sql", {"alert_key": alert_key, "scope": scope}, schema=SCHEMA
    )
    if row is None or not row["firing"]:
        return False
    return severity is None or acknowledgement_holds(row, severity)


def silence(
    conn,
    alert_key: str,
    *,
    scope: str | None,
    starts_at: datetime,
    ends_at: datetime,
    by: str,
    reason: str,
) -> int:
    """Silence an alert (one scope, or every scope with None) for [starts_at, ends_at); returns
    the silence's id. The silence and its alert_actions row in one transaction."""
    _require_reason(by, reason)
    if ends_at <= starts_at:
        raise ValueError("a silence must end after it starts")
    with conn.transaction():
        silence_id = add_silence(
            conn, alert_key, starts_at=starts_at, ends_at=ends_at, reason=reason, scope=scope, created_by=by
        )
        _record_action(
            conn,
            alert_key,
            scope,
            action="silence",
            actor=by,
            reason=reason,
            at=starts_at,
            detail={"silence_id": silence_id, "ends_at": ends_at.isoformat()},
        )
    return silence_id


def lift_silence(conn, silence_id: int, *, by: str, reason: str, at: datetime) -> dict:
    """End a silence now (it must still be in force); returns the silence. Raises LookupError
    when there is no such silence in force. The alert's next evaluation announces it if it still
    fires ("silence ended, still firing")."""
    _require_reason(by, reason)
    with conn.transaction():
        row = db.fetch_one(
            conn,
            "ops/update_alert_silence_lifted.sql",
            {"lifted_at": at, "lifted_by": by, "lift_reason": reason, "silence_id": silence_id},
            schema=SCHEMA,
        )
        if row is None:
            raise LookupError(f"silence {silence_id} is not in force: nothing to lift")
        _record_action(
            conn,
            row["alert_key"],
            row["scope"],
            action="lift",
            actor=by,
            reason=reason,
            at=at,
            detail={"silence_id": silence_id},
        )
    return row


def unannounced_actions(conn, alert_key: str, scope: str) -> list[dict]:
    """Operator actions on the alert that no Slack message reported yet, oldest first."""
    return db.fetch_all(
        conn,
        "ops/select_unannounced_alert_actions.sql",
        {"alert_key": alert_key, "scope": scope},
        schema=SCHEMA,
    )


def mark_actions_announced(conn, ids: list[int], *, at: datetime) -> None:
    """After Slack accepted a message reporting these actions (best effort: a crash before this
    reports them once more in the next message, never loses them)."""
    if ids:
        db.execute(
            conn,
            "ops/update_alert_actions_announced.sql",
            {"ids": list(ids), "announced_at": at},
            schema=SCHEMA,
        )


def note_evaluation_run(conn, alert_key: str, scope: str, *, evaluated_at: datetime, run: str) -> None:
    """Record '<dag_id>/<run_id>' as the run of the alert's latest evaluation (the page links it)."""
    db.execute(
        conn,
        "ops/update_alert_state_evaluation_run.sql",
        {"run": run, "alert_key": alert_key, "scope": scope, "evaluated_at": evaluated_at},
        schema=SCHEMA,
    )
