"""The few TaskFlow building blocks DAG files assemble.

    probe_database()      branch: database reachable -> the checks; unreachable -> the
                          Database Connection Lost alert (5-minute DAG) or nothing (others);
                          its XCom "probe" holds how long connect and SELECT 1 took
    check_group(key)      TaskGroup: measure (runs the check's SQL) -> decide (@task.branch:
                          evaluate + alert state) -> remediate? -> notify | nothing_to_do
    wire_inhibitions()    root cause's decide before its consequences' decide, and its notify
                          after them, so its message names what it held back.

Every task reads the run's time from its context (windows.py) and its thresholds from the
Variables when it runs (thresholds.py); nothing here runs at DAG-parse time.

A slow database fails a task, never a whole run in silence: every database connection of these
tasks has the statement timeout of the task's own execution_timeout (defaults.statement_timeout_ms,
20 s in the 5-minute DAG), so a slow or lock-blocked statement fails the try with the database's
error well before Airflow's execution_timeout, and both before the run's dagrun_timeout (which
would skip the tasks with no callback). A measure cancelled that way also pushes what happened
(measure.STATEMENT_TIMEOUT_XCOM) for Database Responding Slowly, which runs after the other
measures of the 5-minute DAG and pages about it.
"""

from __future__ import annotations

import functools
import logging
import time
from datetime import UTC, datetime, timedelta

import psycopg
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import Label, TaskGroup, TriggerRule, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from nurture_ops.alerting import approval, notify, organizations
from nurture_ops.alerting import state as alert_state
from nurture_ops.alerting.api_checks import enrich, measure_through_api, measured_through_api, upstream_text
from nurture_ops.alerting.defaults import statement_timeout_ms
from nurture_ops.alerting.measure import (
    STATEMENT_TIMEOUT_XCOM,
    reads_run_timings,
    run_measure,
    run_slowness_measure,
    timed_out_error,
    timed_out_record,
)
from nurture_ops.alerting.remediation import BATCHED, RUNNERS, RunInfo, sample_targets
from nurture_ops.alerting.remediation import audit as remediation_audit
from nurture_ops.core import db, sql
from nurture_ops.core.catalog import DATABASE_CONNECTION_LOST, get_check
from nurture_ops.core.escalation import PAGERDUTY_CONN_ID
from nurture_ops.core.evaluate import Finding, evaluate
from nurture_ops.core.settings import InvalidOverride, load_escalation, load_settings
from nurture_ops.core.windows import run_time

log = logging.getLogger(__name__)


PROBE_TIMEOUT_SECONDS = 5


def classify_db_error(exc: BaseException) -> str:
    text = str(exc).lower()
    if "password" in text or "authentication" in text or ("role" in text and "does not exist" in text):
        return "auth"
    if "timeout" in text or "timed out" in text:
        return "timeout"
    if "refused" in text or "could not connect" in text or "no route" in text:
        return "refused"
    if "could not translate host name" in text or "name or service not known" in text:
        return "dns"
    if "database" in text and "does not exist" in text:
        return "missing database"
    if "conn_id" in text or "isn't defined" in text or "not found" in text:
        return "missing connection"
    return type(exc).__name__


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def probe(conn_id: str = db.LEADS_DB_CONN_ID) -> dict:
    """Connect and run SELECT 1 with short timeouts; never raises.

    When reachable, also how long it took, in ms: connect_ms (opening the connection, Airflow's
    connection lookup included), query_ms (the SELECT 1 round trip: the database's response
    time, what Database Responding Slowly watches) and latency_ms (both). The provider import and
    the SQL file are loaded before the clock starts: they are not the database."""
    try:
        from airflow.providers.postgres.hooks import postgres  # noqa: F401  (imported, not timed)

        statement = sql.render(DATABASE_CONNECTION_LOST.sql)
        started = time.perf_counter()
        with db.connect(conn_id, connect_timeout=PROBE_TIMEOUT_SECONDS, statement_timeout_ms=5000) as conn:
            connected = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute(statement)
                cur.fetchall()
            answered = time.perf_counter()
        return {
            "ok": True,
            "connect_ms": _ms(connected - started),
            "query_ms": _ms(answered - connected),
            "latency_ms": _ms(answered - started),
        }
    except Exception as exc:  # every failure is an answer here: unreachable, refused, misconfigured
        return {
            "ok": False,
            "error_class": classify_db_error(exc),
            "error": str(exc).strip().splitlines()[0][:300],
        }


def _following(context, exclude: set[str]) -> list[str]:
    return sorted(set(context["task"].downstream_task_ids) - exclude)


def probe_database(*, owns_alert: bool) -> object:
    """Branch on database reachability. Only the 5-minute DAG (owns_alert) pages about it:
    its alert state lives in an Airflow Variable, since the database that holds the others is
    the one that is down."""
    lost_id = DATABASE_CONNECTION_LOST.key if owns_alert else "database_unreachable"

    @task.branch(task_id="probe_database")
    def probe_database_task() -> list[str]:
        context = get_current_context()
        result = probe()
        context["ti"].xcom_push(key="probe", value=result)
        checks = _following(context, {lost_id})
        if not owns_alert:
            if result["ok"]:
                return checks
            log.warning(
                "Database unreachable (%s); checks held back: %s", result["error_class"], result["error"]
            )
            return [lost_id]
        # The same decision the alert task makes (state.plan_outage), without writing anything: an
        # unreadable Variable is unknown state (warned about), never an error of the probe.
        outage = alert_state.read_outage()
        repeat = None if result["ok"] else timedelta(minutes=load_settings().repeat_interval_minutes)
        plan = alert_state.plan_outage(
            outage,
            reachable=result["ok"],
            at=run_time(context),
            now=datetime.now(UTC),
            probe=result,
            repeat=repeat,
            run_id=context["ti"].run_id,
        )
        paged = _outage_page_due(result, context)  # PagerDuty's page, tracked apart from Slack
        if result["ok"]:
            # Recovery: resolve a notified outage (or reset an unreadable state) with the checks.
            return checks + ([lost_id] if plan.kind or plan.state is not None or paged else [])
        log.error(
            "Database unreachable (%s): %s; alert due: %s (%s)",
            result["error_class"],
            result["error"],
            plan.kind is not None,
            plan.reason,
        )
        return [lost_id] if plan.kind or paged else []

    probe_task = probe_database_task()
    if owns_alert:
        probe_task >> Label("unreachable, or back after an outage") >> database_connection_lost()
    else:
        probe_task >> Label("unreachable: checks held back") >> EmptyOperator(task_id="database_unreachable")
    return probe_task


def _outage_page_due(result: dict, context) -> bool:
    """Whether PagerDuty's page of the outage (its own Variable) has something to send or reset;
    False when the connection pagerduty_events is not configured."""
    if not notify.connection_exists(PAGERDUTY_CONN_ID):
        return False
    plan = alert_state.plan_outage(
        alert_state.read_outage(alert_state.PageVariableStore()),
        reachable=result["ok"],
        at=run_time(context),
        now=datetime.now(UTC),
        probe=result,
        repeat=alert_state.OUTAGE_NEVER_REMIND,
        run_id=context["ti"].run_id,
    )
    return plan.kind is not None or (result["ok"] and plan.state is not None)


@task(task_id=DATABASE_CONNECTION_LOST.key)
def database_connection_lost() -> str:
    """Fire, remind or resolve the Database Connection Lost alert; state in an Airflow Variable.

    state.page_outage writes the intent before the post and marks it after (see its guarantee):
    a retry after a failed post pages once, a retry after a crash is not silent, and an
    overlapping run does not page twice."""
    context = get_current_context()
    check = DATABASE_CONNECTION_LOST
    ti = context["ti"]
    result = ti.xcom_pull(task_ids="probe_database", key="probe")
    url = notify.run_url(context)

    def send(kind: str, outage: dict) -> None:
        if kind == "resolve":
            since = outage.get("first_failed_at") or "?"
            finding = Finding(
                check.key,
                check.title,
                "ok",
                f"the database is reachable again (down since {since[:16]} UTC)",
                {},
            )
            message = notify.alert_message(check, finding, kind="resolve", run_url=url)
        else:
            summary = check.summary.format(**result)
            finding = Finding(
                check.key, check.title, "critical", summary, {"error_class": result["error_class"]}
            )
            message = notify.alert_message(
                check,
                finding,
                kind=kind,
                run_url=url,
                first_fired_at=outage["first_failed_at"],
                held_back=[
                    {
                        "alert_key": "every other check",
                        "last_summary": "not evaluated while the database is unreachable",
                    }
                ],
            )
        notify.send(message, notify.ALERTS_CONN_ID)

    repeat = None if result["ok"] else timedelta(minutes=load_settings().repeat_interval_minutes)
    failed = []
    try:
        outcome = alert_state.page_outage(
            send,
            reachable=result["ok"],
            probe=result,
            at=run_time(context),
            repeat=repeat,
            run_id=ti.run_id,
            try_number=ti.try_number,
        )
    except Exception as exc:  # Slack down must not hold back PagerDuty's page
        log.exception("Database Connection Lost: Slack")
        failed.append(exc)
        outcome = "Slack failed"
    if notify.connection_exists(PAGERDUTY_CONN_ID):
        from nurture_ops.alerting import escalation

        try:
            paged = alert_state.page_outage(
                lambda kind, outage: escalation.page_database_outage(
                    kind, outage, result, run_url=url, dag_id=ti.dag_id
                ),
                reachable=result["ok"],
                probe=result,
                at=run_time(context),
                repeat=alert_state.OUTAGE_NEVER_REMIND,
                run_id=ti.run_id,
                try_number=ti.try_number,
                store=alert_state.PageVariableStore(),
            )
            log.info("Database Connection Lost, PagerDuty: %s", paged)
        except Exception as exc:
            log.exception("Database Connection Lost: PagerDuty")
            failed.append(exc)
    if failed:
        raise failed[0]
    return {"resolve": "resolved"}.get(outcome, outcome)


class CheckGroup:
    """Handles to one check's tasks, for wiring in DAG files."""

    def __init__(self, check_key: str, group: TaskGroup, measure, decide, notify_task):
        self.check_key, self.group, self.measure, self.decide, self.notify = (
            check_key,
            group,
            measure,
            decide,
            notify_task,
        )


def check_group(check_key: str) -> CheckGroup:
    check = get_check(check_key)  # fail at parse time on a typo: a catalog lookup, no I/O
    with TaskGroup(group_id=check_key, tooltip=check.title) as group:
        run_timings = reads_run_timings(check_key)

        # A check fed by the run's timings runs after the other measures, whatever they did.
        @task(
            task_id="measure",
            doc_md=f"Runs include/sql/{check.sql} for the run's window"
            + (
                ", with the probe's latency and the other measures' statement timeouts."
                if run_timings
                else "."
            ),
            trigger_rule=TriggerRule.ALL_DONE if run_timings else TriggerRule.ALL_SUCCESS,
        )
        def measure() -> dict:
            context = get_current_context()
            ti = context["ti"]
            settings = _settings_for_run_timings(context) if run_timings else load_settings()
            live_check = settings.check(check_key)
            at = run_time(context)
            timeout_ms = statement_timeout_ms(context["task"])
            by_organization = None  # only checks with a per-organization query (core/per_organization.py)
            if run_timings:
                row = _measure_slowness(context, live_check, at, timeout_ms)
            elif measured_through_api(check_key):  # N8n's queue, Supabase's backups: no SQL
                row = measure_through_api(live_check, at)
            else:
                try:
                    with db.connect(purpose="read", statement_timeout_ms=timeout_ms) as conn:
                        row = run_measure(conn, live_check, at)
                        by_organization = _measure_organizations(conn, live_check, at)
                except psycopg.errors.QueryCanceled as exc:
                    # Not evaluated: say so where Database Responding Slowly looks, then fail (retried;
                    # the failure callback posts it).
                    record = timed_out_record(
                        live_check, exc, statement_timeout_ms=timeout_ms, try_number=ti.try_number
                    )
                    ti.xcom_push(key=STATEMENT_TIMEOUT_XCOM, value=record)
                    raise timed_out_error(record) from exc
            log.info("%s at %s: %s", live_check.title, at.isoformat(), row)
            if not run_timings and by_organization is not None:
                return {"row": row, "evaluated_at": at.isoformat(), "organizations": by_organization}
            return {"row": row, "evaluated_at": at.isoformat()}

        @task.branch(task_id="decide")
        def decide(measured: dict) -> list[str]:
            context = get_current_context()
            settings = load_settings()
            live_check = settings.check(check_key)
            finding = evaluate(live_check, measured["row"])
            at = datetime.fromisoformat(measured["evaluated_at"])
            with db.connect(
                purpose="write", statement_timeout_ms=statement_timeout_ms(context["task"])
            ) as conn:
                alert_state.ensure_schema(conn)
                decision = alert_state.record(
                    conn,
                    finding,
                    evaluated_at=at,
                    repeat_interval=timedelta(minutes=settings.repeat_interval_minutes),
                    inhibitors=live_check.inhibited_by,
                    renotify_on_change=live_check.renotify_on_change,
                )
                by_organization = _decide_organizations(
                    conn,
                    settings,
                    live_check,
                    measured.get("organizations"),
                    evaluated_at=at,
                    repeat_interval=timedelta(minutes=settings.repeat_interval_minutes),
                    global_firing=decision.firing,
                )
                alert_state.note_evaluation_run(
                    conn,
                    finding.check_key,
                    finding.scope,
                    evaluated_at=at,
                    run=f"{context['ti'].dag_id}/{context['ti'].run_id}",
                )
            log.info("%s: %s -> %s (%s)", live_check.title, finding.status, decision.kind, decision.reason)
            if decision.kind in ("fire", "remind"):  # e.g. SendGrid's status; no transaction open
                finding = enrich(check_key, finding)
            ti = context["ti"]
            ti.xcom_push(key=organizations.XCOM_KEY, value=by_organization)
            ti.xcom_push(key="finding", value=finding.to_dict())
            ti.xcom_push(key="decision", value=decision.to_dict())
            prefix = f"{check_key}."
            chosen = []
            if decision.kind in ("fire", "remind") and live_check.remediation:
                _, mode, _ = settings.remediation(live_check.remediation)
                if mode != "off":
                    chosen.append(prefix + "remediate")
            if decision.due or by_organization:
                chosen.append(prefix + "notify")
            own = {prefix + t for t in ("remediate", "notify", "nothing_to_do")}
            return (chosen or [prefix + "nothing_to_do"]) + _following(context, own)

        # ALL_DONE: a failed remediation must not hold back the alert it belongs to. When decide
        # chose another path it skips this task itself; when decide did not run, there is no
        # decision to send and the task skips.
        @task(task_id="notify", trigger_rule=TriggerRule.ALL_DONE)
        def notify_task() -> str:
            context = get_current_context()
            ti = context["ti"]
            decided = ti.xcom_pull(task_ids=f"{check_key}.decide", key="decision")
            by_organization = ti.xcom_pull(task_ids=f"{check_key}.decide", key=organizations.XCOM_KEY)
            if not decided or not decided["kind"]:
                if by_organization:
                    return _notify_organizations(context, check_key, by_organization)
                raise AirflowSkipException("nothing to send: decide did not run or found nothing new")
            decision = alert_state.Decision.from_dict(decided)
            finding = Finding.from_dict(ti.xcom_pull(task_ids=f"{check_key}.decide", key="finding"))
            settings = load_settings()
            live_check = settings.check(check_key)
            remediation = None
            if live_check.remediation and decision.kind in ("fire", "remind"):
                spec, mode, _ = settings.remediation(live_check.remediation)
                remediation = ti.xcom_pull(task_ids=f"{check_key}.remediate")
                if remediation is None and mode != "off":
                    remediation = {
                        "title": spec.title,
                        "mode": mode,
                        "outcome": "failed",
                        "message": "the remediate task failed: see its log; nothing is known to have changed",
                    }
            severity = finding.status if decision.kind != "resolve" else None
            # A [RESOLVED] goes where the alert went: route by the severity Slack last heard.
            sent_severity = decision.seen_notified_severity or live_check.severity
            conn_id = notify.route(finding.status if decision.kind != "resolve" else sent_severity)
            with db.connect(
                purpose="write", statement_timeout_ms=statement_timeout_ms(context["task"])
            ) as conn:
                alert_state.ensure_schema(conn)  # one query; a deploy between decide and notify
                held_back = alert_state.held_back_by(conn, check_key) if decision.kind != "resolve" else []
                actions = alert_state.unannounced_actions(conn, check_key, finding.scope)
                message = notify.alert_message(
                    live_check,
                    finding,
                    kind=decision.kind,
                    run_url=notify.run_url(context),
                    first_fired_at=decision.first_fired_at,
                    held_back=held_back,
                    remediation=remediation,
                    silence_ended=decision.silence_ended,
                    operator_actions=actions,
                )
                sent = alert_state.deliver(
                    conn,
                    decision,
                    lambda: notify.send(message, conn_id),
                    severity=severity,
                    text=message["text"],
                    slack_conn_id=conn_id,
                    dag_id=ti.dag_id,
                    run_id=ti.run_id,
                    value=finding.metrics,
                )
                if sent:
                    alert_state.mark_actions_announced(
                        conn, [a["id"] for a in actions], at=datetime.fromisoformat(decision.evaluated_at)
                    )
            log.info(
                "%s: %s",
                "sent" if sent else "already sent, or being sent, by an overlapping run",
                message["text"],
            )
            if by_organization:  # after the global message, which names the organizations held back
                _notify_organizations(context, check_key, by_organization)
            return message["text"] if sent else "already sent"

        measured = measure()
        decision_task = decide(measured)
        notify_handle = notify_task()
        nothing_to_do = EmptyOperator(task_id="nothing_to_do")
        decision_task >> Label("alert due") >> notify_handle
        decision_task >> Label("ok, no data, or already notified") >> nothing_to_do
        if check.remediation:
            remediate = remediate_task(check_key)
            decision_task >> Label("remediation enabled") >> remediate >> notify_handle
    return CheckGroup(check_key, group, measured, decision_task, notify_handle)


def _notify_organizations(context, check_key: str, entries: list[dict]) -> str:
    """The grouped per-organization message of this check and run (alerting.organizations)."""
    ti = context["ti"]
    live_check = load_settings().check(check_key)
    with db.connect(purpose="write", statement_timeout_ms=statement_timeout_ms(context["task"])) as conn:
        alert_state.ensure_schema(conn)
        outcome = organizations.notify_group(
            conn, live_check, entries, run_url=notify.run_url(context), dag_id=ti.dag_id, run_id=ti.run_id
        )
    log.info("%s: %s", live_check.title, outcome)
    return outcome


def _upstream_measures(context) -> list[str]:
    return sorted(t for t in context["task"].upstream_task_ids if t.endswith(".measure"))


def _settings_for_run_timings(context):
    """load_settings(); an invalid thresholds Variable skips this check when other measures of the
    run read it too: they fail on it and their failure callbacks page once about it already."""
    try:
        return load_settings()
    except AirflowFailException as exc:
        if isinstance(exc.__cause__, InvalidOverride) and _upstream_measures(context):
            raise AirflowSkipException(
                f"not measured: {exc.__cause__} (reported by the failure of {', '.join(_upstream_measures(context))})"
            ) from exc
        raise


def _measure_slowness(context, check, at: datetime, timeout_ms: int) -> dict:
    """Database Responding Slowly's measure: the probe's XCom, the statement timeouts the other
    measures of the run (this task's upstream) pushed, its SQL and its history."""
    ti = context["ti"]
    probed = ti.xcom_pull(task_ids="probe_database", key="probe")
    if not probed or not probed.get("ok"):
        raise AirflowSkipException("the probe did not reach the database: nothing to measure")
    timed_out = [
        record
        for task_id in _upstream_measures(context)
        if (record := ti.xcom_pull(task_ids=task_id, key=STATEMENT_TIMEOUT_XCOM))
    ]
    # "write": the slowness check reads its own latency history in nurture_ops.alert_state.
    with db.connect(purpose="write", statement_timeout_ms=timeout_ms) as conn:
        return run_slowness_measure(
            conn, check, at, probe=probed, timed_out=timed_out, statement_timeout_ms=timeout_ms
        )


def remediate_task(check_key: str):
    @task(task_id="remediate")
    def remediate() -> dict:
        context = get_current_context()
        ti = context["ti"]
        settings = load_settings()
        live_check = settings.check(check_key)
        finding = Finding.from_dict(ti.xcom_pull(task_ids=f"{check_key}.decide", key="finding"))
        spec, mode, cap = settings.remediation(live_check.remediation)
        run = RunInfo(ti.dag_id, ti.run_id, ti.task_id, run_time(context))
        with db.connect(purpose="write", statement_timeout_ms=statement_timeout_ms(context["task"])) as conn:
            result = RUNNERS[spec.key](
                conn,
                spec,
                mode=mode,
                max_rows=cap,
                run=run,
                reason=f"{live_check.title}: {finding.summary}"
                + (f"; {upstream}" if (upstream := upstream_text(finding)) else ""),
                alert_key=check_key,
                check_params=live_check.params,
            )
            if result["outcome"] == "over_cap" and mode == "apply" and spec.key in BATCHED:
                result["approval"] = _ask_approval(conn, spec, result, cap=cap, run=run, alert_key=check_key)
            return result

    return remediate()


def _measure_organizations(conn, check, at: datetime) -> list[dict] | None:
    """The per-organization rows of a check, or None when its query fails: the global finding, read
    just before on the same connection, must reach decide whatever happens to the GROUP BY."""
    try:
        return organizations.run_measure(conn, check, at)
    except psycopg.Error as exc:
        conn.rollback()  # the global row is already read; nothing else runs on this connection
        log.error("%s per organization not evaluated this run (the global check is): %s", check.title, exc)
        return None


def _decide_organizations(conn, settings, check, rows, **kwargs) -> list | None:
    """organizations.decide in a savepoint of its own: if it fails, the global decision recorded
    just before stays committed and its message goes out; the organizations wait for the next run."""
    try:
        with conn.transaction():
            return organizations.decide(conn, settings, check, rows, **kwargs)
    except psycopg.Error as exc:
        log.error("%s per organization not decided this run (the global alert is): %s", check.title, exc)
        return None


ESCALATION_SWEEP_ID = "page_and_escalate"


def escalation_sweep(groups: list[CheckGroup]):
    """The escalation matrix's task (alerting.escalation), after every check of the DAG decided:
    PagerDuty triggers and resolves, and escalations to slack_escalation, for every alert state.
    ALL_DONE_MIN_ONE_SUCCESS: it runs when a check decided, even if another failed; not when the
    database is unreachable (every decide skipped)."""

    @task(task_id=ESCALATION_SWEEP_ID, trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
    def page_and_escalate() -> dict:
        from nurture_ops.alerting import escalation

        context = get_current_context()
        ti = context["ti"]
        at = run_time(context)
        run = {"run_url": notify.run_url(context), "dag_id": ti.dag_id, "run_id": ti.run_id}
        # PagerDuty may take half of the try: a PagerDuty timing out on every call leaves its events
        # for the next run instead of running the task past its execution_timeout.
        budget = (context["task"].execution_timeout or timedelta(minutes=2)).total_seconds() / 2
        deadline = time.monotonic() + budget

        def escalate(conn, at, **run):  # a bad nurture_ops_escalation Variable stops only this step
            return escalation.escalate(conn, at, levels=load_escalation(), **run)

        with db.connect(purpose="write", statement_timeout_ms=statement_timeout_ms(context["task"])) as conn:
            alert_state.ensure_schema(conn)
            done, failed = {}, []
            steps = (escalate, functools.partial(escalation.page, deadline=deadline))
            for step in steps:  # one failing does not stop the other; the quick Slack step first
                try:
                    done.update(step(conn, at, **run))
                except Exception as exc:
                    log.exception("%s failed", getattr(step, "func", step).__name__)
                    failed.append(exc)
        if failed:
            raise failed[0]
        return done

    sweep = page_and_escalate()
    for group in groups:
        group.decide >> sweep
    return sweep


def _ask_approval(conn, spec, result: dict, *, cap: int, run: RunInfo, alert_key: str) -> dict:
    """Over the cap: trigger the approval DAG (never wait for it) and audit the request. A failed
    trigger is reported in the message, not raised: the alert still goes out, with the manual steps.
    A request made within the response timeout (an earlier firing or reminder) is not repeated."""
    pending = approval.pending_request(conn, spec.key, at=run.evaluated_at)
    if pending is not None:
        return pending
    conf = approval.approval_conf(
        remediation_key=spec.key,
        alert_key=alert_key,
        rows_counted=result["rows_counted"],
        max_rows=cap,
        reason=result["message"],
        sample=sample_targets(conn, spec),
        requested_by=f"{run.dag_id}/{run.run_id}",
    )
    try:
        requested = approval.request_approval(conf, dag_id=run.dag_id, run_id=run.run_id)
    except Exception as exc:
        log.error("Could not request approval of %s: %s", spec.key, exc)
        return {"error": str(exc)}
    remediation_audit(
        conn,
        spec,
        mode="apply",
        outcome="approval_requested",
        rows_counted=result["rows_counted"],
        rows_changed=0,
        reason=f"over the cap of {cap:,}: approval requested ({requested['run_id']})",
        detail={"approval_dag_id": requested["dag_id"], "approval_run_id": requested["run_id"]},
        run=run,
        alert_key=alert_key,
    )
    if not conn.autocommit:
        conn.commit()
    return requested


def wire_inhibitions(groups: list[CheckGroup]) -> None:
    """Within one DAG: a root cause decides before its consequences, and its message waits for
    them so it can name what it held back. Across DAGs, inhibition reads the alert state."""
    by_key = {g.check_key: g for g in groups}
    for group in groups:
        for inhibition in get_check(group.check_key).inhibited_by:
            root = by_key.get(inhibition.root)
            if root is not None:
                root.decide >> group.decide
                # The root's own failure must not stop the consequence from being evaluated.
                group.decide.operator.trigger_rule = TriggerRule.ALL_DONE_MIN_ONE_SUCCESS
                group.decide >> root.notify
