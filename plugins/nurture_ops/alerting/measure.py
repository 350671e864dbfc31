"""A check's SQL run for the run's window: its bind parameters and the one metrics row.

Database Responding Slowly is measured from the run as well (`run_slowness_measure`): the
probe's latency, its own history of it, and the measures of the run that were cancelled by their
statement timeout (each pushes a `timed_out_record` as the XCom STATEMENT_TIMEOUT_XCOM, then
fails with `timed_out_error`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import psycopg

from nurture_ops.alerting import state as alert_state
from nurture_ops.core import db
from nurture_ops.core.catalog import DATABASE_RESPONDING_SLOWLY, Check
from nurture_ops.core.text import fmt, plain
from nurture_ops.core.windows import Window, day_bounds, lookback, previous_day


def measure_params(check: Check, at: datetime) -> tuple[Window, dict]:
    """Bind parameters of a check's SQL: its thresholds' params, the run's time (as_of), and its
    window: the lookback ending at the run, or for daily checks the day before the run's date."""
    params = {**check.params, "as_of": at}
    if check.cadence == "daily":
        day = previous_day(at)
        window = day_bounds(day)
        lookback_days = int(check.params.get("lookback_days", 14))
        params.update(
            day=day,
            day_start=window.start,
            day_end=window.end,
            lookback_start=day - timedelta(days=lookback_days - 1),
        )
    else:
        window = lookback(at, check.lookback) if check.lookback else Window(at, at)
    return window, {**params, **window.params()}


def run_measure(conn, check: Check, at: datetime) -> dict:
    _, params = measure_params(check, at)
    return plain(db.fetch_one(conn, check.sql, params) or {})


# ---- Database Responding Slowly: a check fed by the run's own timings ----------------------------

# Checks whose values come from the run as well as from their SQL (alerting.cadence runs their
# measure after the probe and after every other check's measure of the run).
RUN_TIMING_CHECKS = frozenset({DATABASE_RESPONDING_SLOWLY.key})
# The XCom a measure pushes when its statement was cancelled (statement timeout), read by them.
STATEMENT_TIMEOUT_XCOM = "statement_timeout"
_CADENCE = re.compile(r"^(\d+)min$")


class StatementTimedOut(RuntimeError):
    """A check's query was cancelled by its statement timeout (or by an operator): not evaluated."""


def reads_run_timings(check_key: str) -> bool:
    return check_key in RUN_TIMING_CHECKS


def _seconds(ms: float) -> float | int:
    """20000 -> 20, 1500 -> 1.5: a timeout in seconds as people write it."""
    seconds = round(ms / 1000, 1)
    return int(seconds) if float(seconds).is_integer() else seconds


def timed_out_record(
    check: Check, exc: BaseException, *, statement_timeout_ms: int, try_number: int | None
) -> dict:
    """What a measure cancelled by its statement timeout tells Database Responding Slowly (XCom)."""
    return {
        "check_key": check.key,
        "title": check.title,
        "sql": check.sql,
        "statement_timeout_s": _seconds(statement_timeout_ms),
        "error": (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200],
        "try_number": try_number,
    }


def timed_out_error(record: dict) -> StatementTimedOut:
    return StatementTimedOut(
        f"{record['title']}: its query (include/sql/{record['sql']}) was cancelled after "
        f"{fmt(record['statement_timeout_s'])} s ({record['error']}): the database is slow or the query "
        "waits on a lock; not evaluated this run (see Database Responding Slowly)"
    )


def cadence_interval(cadence: str) -> timedelta:
    """'5min' -> 5 minutes: the time between two runs of a cadence's DAG."""
    match = _CADENCE.match(cadence)
    if match is None:
        raise ValueError(f"not a minutes cadence: {cadence!r}")
    return timedelta(minutes=int(match[1]))


def _history(raw: Any, *, after: datetime, before: datetime) -> list[list]:
    """[[iso time, ms], ...] of the stored history with after < time < before; bad entries dropped."""
    kept = []
    for entry in raw if isinstance(raw, list) else []:
        try:
            when, ms = datetime.fromisoformat(entry[0]), float(entry[1])
        except (TypeError, ValueError, IndexError):
            continue
        if when.tzinfo is not None and after < when < before:
            kept.append([when.isoformat(), ms])
    return kept


def slowness_metrics(
    check: Check,
    at: datetime,
    *,
    probe: dict,
    timed_out: list[dict],
    history: Any,
    statement_timeout_ms: int,
) -> dict:
    """The run-level metrics of Database Responding Slowly. Pure.

    `probe`: the probe's XCom (connect_ms, query_ms: the SELECT 1 round trip); `history`: the
    [[time, query_ms], ...] recorded with the check's last evaluation; `timed_out`: the records of
    this run's measures cancelled by their statement timeout. "Consistently" is every one of the
    last `consecutive_runs` runs (within as many cadence intervals before `at`, this run
    included): sustained_query_ms is the fastest of them, None until that many are recorded."""
    runs = max(1, int(check.params["consecutive_runs"]))
    query_ms = probe.get("query_ms")
    kept = _history(history, after=at - runs * cadence_interval(check.cadence), before=at)
    if query_ms is not None:
        kept.append([at.isoformat(), float(query_ms)])
    kept = kept[-runs:]
    sustained = min(ms for _, ms in kept) if len(kept) >= runs and query_ms is not None else None
    if sustained is not None:
        recent = f"the fastest of the last {runs} runs {fmt(sustained)} ms"
    else:
        recent = f"{len(kept)} of the last {runs} runs measured so far"
    names = ", ".join(dict.fromkeys(r["title"] for r in timed_out))
    return {
        "query_ms": query_ms,
        "connect_ms": probe.get("connect_ms"),
        "latency_ms": probe.get("latency_ms"),
        "sustained_query_ms": sustained,
        "recent_runs": recent,
        "timed_out_checks": len({r["check_key"] for r in timed_out}),
        "timed_out_names": f": {names}" if names else "",
        "statement_timeout_s": _seconds(statement_timeout_ms),
        "latency_history": kept,
    }


def run_slowness_measure(
    conn, check: Check, at: datetime, *, probe: dict, timed_out: list[dict], statement_timeout_ms: int
) -> dict:
    """The check's SQL (locks, long transactions), its latency history (alert_state) and the run's
    timings, as one metrics row with `details` (sessions, timed_out)."""
    try:
        row = run_measure(conn, check, at)
    except psycopg.errors.QueryCanceled as exc:
        # Too slow to say even that: the run's timings still tell, and this check counts itself.
        conn.rollback()
        row = {"lock_waits": None, "long_transactions": None}
        timed_out = [
            *timed_out,
            timed_out_record(check, exc, statement_timeout_ms=statement_timeout_ms, try_number=None),
        ]
    alert_state.ensure_schema(conn)
    stored = db.fetch_one(
        conn,
        "checks/alerts_5min/select_probe_latency_history.sql",
        {"alert_key": check.key},
        schema=alert_state.SCHEMA,
    )
    metrics = slowness_metrics(
        check,
        at,
        probe=probe,
        timed_out=timed_out,
        history=(stored or {}).get("latency_history"),
        statement_timeout_ms=statement_timeout_ms,
    )
    details = row.pop("details", None)
    details = {**(details if isinstance(details, dict) else {}), "timed_out": timed_out}
    return {**row, **metrics, "details": details}
