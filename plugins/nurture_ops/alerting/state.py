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
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row, tuple_row

from nurture_ops.core import sql
from nurture_ops.core.evaluate import SEVERITY_RANK, Finding

SCHEMA = "nurture_ops"
_SCHEMA_LOCK_KEY = 7_310_001  # pg advisory lock id: creating the nurture_ops schema
FUTURE_TOLERANCE = timedelta(minutes=15)


def ensure_schema(conn) -> None:
    """Create nurture_ops tables if missing; safe when several tasks start at once."""
    with conn.cursor(row_factory=tuple_row) as cur:
        # The newest column stands for the whole DDL: an older deployment gets it added.
        cur.execute(
            """SELECT to_regclass(%s) IS NOT NULL AND EXISTS (
                   SELECT 1 FROM information_schema.columns
                   WHERE table_schema = %s AND table_name = 'alert_state' AND column_name = 'notified_value')""",
            (f"{SCHEMA}.remediation_audit", SCHEMA),
        )
        if cur.fetchone()[0]:
            return
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
        cur.execute(sql.render("ops/create_nurture_ops_schema.sql", schema=SCHEMA))
    if not conn.autocommit:
        conn.commit()


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


def _lock_row(cur, key: str, scope: str) -> dict:
    cur.execute(
        f"INSERT INTO {SCHEMA}.alert_state (alert_key, scope) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (key, scope),
    )
    cur.execute(
        f"SELECT * FROM {SCHEMA}.alert_state WHERE alert_key = %s AND scope = %s FOR UPDATE",
        (key, scope),
    )
    return cur.fetchone()


def active_silence(cur, key: str, scope: str, at: datetime) -> dict | None:
    cur.execute(
        f"""SELECT * FROM {SCHEMA}.alert_silences
            WHERE alert_key = %s AND (scope IS NULL OR scope = %s) AND starts_at <= %s AND ends_at > %s
            ORDER BY ends_at DESC LIMIT 1""",
        (key, scope, at, at),
    )
    return cur.fetchone()


def firing_inhibitor(cur, inhibitions: tuple) -> str | None:
    """The first root cause (catalog Inhibition) now firing, if any, as recorded in alert_state."""
    for inhibition in inhibitions:
        cur.execute(
            f"""SELECT alert_key FROM {SCHEMA}.alert_state
                WHERE alert_key = %s AND firing AND (%s::text IS NULL OR STRPOS(last_summary, %s) > 0)
                LIMIT 1""",
            (inhibition.root, inhibition.cause, inhibition.cause),
        )
        if cur.fetchone():
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
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = _lock_row(cur, key, scope)
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
        silence = active_silence(cur, key, scope, evaluated_at)
        inhibitor = firing_inhibitor(cur, inhibitors) if finding.firing else None
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
        cur.execute(
            f"""UPDATE {SCHEMA}.alert_state SET
                    firing = %s, status = %s, severity = %s, first_fired_at = %s, last_evaluated_at = %s,
                    last_value = %s, last_summary = %s, inhibited_by = %s, silenced = %s
                WHERE alert_key = %s AND scope = %s""",
            (
                firing,
                finding.status,
                finding.status if finding.firing else row["severity"],
                first_fired_at if firing else None,
                evaluated_at,
                json.dumps(finding.metrics, default=str),
                finding.summary,
                inhibitor,
                row["silenced"] if finding.status == "no_data" else bool(silence) and finding.firing,
                key,
                scope,
            ),
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
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = _lock_row(cur, decision.alert_key, decision.scope)
        if row["notified_state"] != decision.seen_notified_state or _iso(row["last_notified_at"]) != (
            decision.seen_last_notified_at
        ):
            return False  # an overlapping run delivered it
        if row["last_evaluated_at"] is not None and row["last_evaluated_at"] > evaluated_at:
            return False  # a later evaluation exists (e.g. an old notify cleared by hand): it decides
        send()
        notified_state = "resolved" if decision.kind == "resolve" else "firing"
        cur.execute(
            f"""UPDATE {SCHEMA}.alert_state SET notified_state = %s, notified_severity = %s,
                    last_notified_at = %s, notified_value = %s, notifications_sent = notifications_sent + 1
                WHERE alert_key = %s AND scope = %s""",
            (
                notified_state,
                severity if notified_state == "firing" else None,
                evaluated_at,
                json.dumps(value, default=str) if value is not None else None,
                decision.alert_key,
                decision.scope,
            ),
        )
        cur.execute(
            f"""INSERT INTO {SCHEMA}.alert_notifications
                    (alert_key, scope, kind, severity, text, slack_conn_id, dag_id, run_id, evaluated_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                decision.alert_key,
                decision.scope,
                decision.kind,
                severity,
                text,
                slack_conn_id,
                dag_id,
                run_id,
                evaluated_at,
            ),
        )
    return True


def held_back_by(conn, root_key: str) -> list[dict]:
    """Alerts currently firing but inhibited by `root_key`, to be named in the root's message."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""SELECT alert_key, scope, last_summary FROM {SCHEMA}.alert_state
                WHERE inhibited_by = %s AND firing ORDER BY alert_key, scope""",
            (root_key,),
        )
        return cur.fetchall()


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
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            f"""INSERT INTO {SCHEMA}.alert_silences (alert_key, scope, starts_at, ends_at, reason, created_by)
                VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
            (alert_key, scope, starts_at, ends_at, reason, created_by),
        )
        return cur.fetchone()[0]


def end_silence(conn, silence_id: int, *, at: datetime) -> None:
    with conn.cursor() as cur:
        cur.execute(
            f"UPDATE {SCHEMA}.alert_silences SET ends_at = GREATEST(starts_at + interval '1 second', %s) WHERE id = %s",
            (at, silence_id),
        )


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
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = _lock_row(cur, key, scope)
        if row["notified_state"] is not None:
            return False
        send()
        cur.execute(
            f"""UPDATE {SCHEMA}.alert_state SET notified_state = 'resolved', last_notified_at = %s,
                    last_evaluated_at = %s, last_summary = %s, notifications_sent = notifications_sent + 1
                WHERE alert_key = %s AND scope = %s""",
            (evaluated_at, evaluated_at, text, key, scope),
        )
        cur.execute(
            f"""INSERT INTO {SCHEMA}.alert_notifications
                    (alert_key, scope, kind, severity, text, slack_conn_id, dag_id, run_id, evaluated_at)
                VALUES (%s, %s, 'report', NULL, %s, %s, %s, %s, %s)""",
            (key, scope, text, slack_conn_id, dag_id, run_id, evaluated_at),
        )
    return True


def send_unless_repeated(
    conn, key: str, scope: str, text: str, send: Callable[[], None], *, at: datetime, repeat: timedelta
) -> bool:
    """Send unless the same `text` went out for (key, scope) within `repeat` before `at`.

    For messages that have no resolve (task failures): the same text once per interval, a new
    text at once. Recorded only after `send` succeeded, under the row lock, so a failed post is
    retried by the next failure and two overlapping callbacks send once."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = _lock_row(cur, key, scope)
        last = row["last_notified_at"]
        if row["last_summary"] == text and last is not None and timedelta(0) <= at - last < repeat:
            return False
        send()
        cur.execute(
            f"""UPDATE {SCHEMA}.alert_state SET last_summary = %s, last_notified_at = %s, last_evaluated_at = %s,
                    firing = TRUE, status = 'critical', notifications_sent = notifications_sent + 1
                WHERE alert_key = %s AND scope = %s""",
            (text, at, at, key, scope),
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
