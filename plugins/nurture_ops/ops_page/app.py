"""The Lead Nurture page: a FastAPI app the Airflow api-server mounts (plugins/nurture_ops_page.py).

Routes (under the plugin's url_prefix, /nurture-ops):
  GET  /                      the page (HTML: KPI table, alert board, trends, organizations,
                              remediation audit, operator actions; action forms for who may act)
  GET  /api/status            what there is to show (latest analytics day, nurture_ops schema version)
  GET  /api/kpis              KPI table: yesterday, last 7 and last 30 days, against the catalog's levels
  GET  /api/alerts            firing alerts (silence, acknowledgement, run link), silences, resolved ones
  GET  /api/trends            rates per day over `days` (30 or 90) with their target and alert levels
  GET  /api/organizations     organizations ranked by bounce, unsubscribe and failure rate
  GET  /api/remediations      the latest nurture_ops.remediation_audit rows
  GET  /api/actions           the latest operator actions (silence, lift, acknowledge)
  POST /actions/silence       silence an alert (one scope or all) for `minutes`, with a reason
  POST /actions/lift          lift a silence in force, with a reason
  POST /actions/acknowledge   acknowledge a firing alert (one scope), with a reason

Every route needs an authenticated Airflow user; the POSTs need edit permission on the alert's DAG
and a same-site form token (access.py). Reads go through `leads_db_readonly` when it is defined (else
`leads_db`) and touch only campaign_analytics (with organizations and nurture_campaigns for names)
and the nurture_ops tables; actions write through `leads_db`. Importing this module builds the app
and its routes only: no connection, no Variable, no file read.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, RedirectResponse

from nurture_ops.ops_page import access, queries
from nurture_ops.ops_page.charts import line_chart

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
READ_TIMEOUT_MS = 10_000  # every page query is an index range on campaign_analytics or nurture_ops
MAX_SILENCE_MINUTES = 7 * 24 * 60
SILENCE_CHOICES = (30, 60, 240, 720, 1440, 4320)  # minutes offered by the form
# Firing rows the HTML board shows (most severe, oldest first; /api/alerts has them all): with
# per-organization scopes a bad day can fire for most of the 100 organizations at once.
MAX_BOARD_ROWS = 50
REQUIRED_ACTIONS_URL = "/required_actions?response_received=false"  # Airflow's HITL list
EMPTY_ANALYTICS = (
    "No campaign analytics yet. Run the rollup: trigger nurture_analytics_rollup (make run does it on its "
    "first start; for a range, params start_date / end_date)."
)
EMPTY_ALERTS = (
    "No alert state yet (nurture_ops schema {version}). Run an alert DAG once, e.g. trigger nurture_alerts_5min: "
    "its first task creates and migrates the nurture_ops tables."
)

app = FastAPI(title="Lead Nurture", docs_url=None, redoc_url=None, openapi_url=None)
User = Annotated[Any, Depends(access.current_user)]


@functools.cache
def _templates():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{float(v):.2f}%"
    env.filters["ts"] = lambda v: "" if v is None else v.strftime("%Y-%m-%d %H:%M UTC")
    return env


@contextlib.contextmanager
def _db(purpose: str):
    """core.db.connect for `purpose`; an unreachable database or a connection that is not
    configured answers 503 with what to check, not a traceback."""
    import psycopg

    from nurture_ops.core import db

    try:
        with db.connect(purpose=purpose, connect_timeout=5, statement_timeout_ms=READ_TIMEOUT_MS) as conn:
            yield conn
    except psycopg.errors.QueryCanceled as exc:
        raise HTTPException(
            503, f"A query of the page ran past its {READ_TIMEOUT_MS // 1000} s statement timeout: {exc}"
        ) from exc
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HTTPException(
            503,
            f"The leads database is unreachable ({first}); check the {db.conn_id_for(purpose)} connection "
            "and that PostgreSQL is up",
        ) from exc
    except Exception as exc:
        if type(exc).__name__ == "AirflowNotFoundException":  # PostgresHook: no such connection
            raise HTTPException(503, f"The leads database connection is not configured: {exc}") from exc
        raise


def _thresholds() -> tuple[tuple, str | None]:
    """The kpi_review thresholds the daily DAG uses (Variable overrides included); the catalog's
    when the Variable cannot be read, with the reason shown on the page."""
    from nurture_ops.core.catalog import get_check
    from nurture_ops.core.settings import load_settings

    try:
        return load_settings().check("kpi_review").thresholds, None
    except Exception as exc:
        log.warning("Lead Nurture page: thresholds from the catalog (%s)", exc)
        return get_check("kpi_review").thresholds, f"KPI levels are the catalog's defaults: {exc}"


EARLIEST_AS_OF = date(2000, 1, 1)  # the windows reach 90 days back; nothing sent before 2000


def _today(as_of: date | None) -> date:
    if as_of is not None and as_of < EARLIEST_AS_OF:
        raise HTTPException(
            400, f"as_of must be on or after {EARLIEST_AS_OF.isoformat()}, not {as_of.isoformat()}"
        )
    return as_of or datetime.now(UTC).date()


def _at(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _scope(organization_id: str | None, campaign_id: int | None) -> queries.Scope:
    if organization_id:
        import uuid

        try:
            organization_id = str(uuid.UUID(organization_id))
        except ValueError:
            raise HTTPException(400, f"organization_id {organization_id!r} is not a UUID") from None
    return queries.Scope(organization_id or None, campaign_id)


AsOf = Annotated[date | None, Query(description="the reference day (default: today, UTC)")]
At = Annotated[datetime | None, Query(description="the instant of the alert board (default: now)")]
Days = Annotated[int, Query(description="30 or 90")]
OrgId = Annotated[str | None, Query()]
CampaignId = Annotated[int | None, Query(ge=1, le=2**63 - 1)]  # a bigint id: larger is a 422, not a 500
Limit = Annotated[int, Query(ge=1, le=500)]


def _days(days: int) -> int:
    if days not in queries.TREND_DAYS:
        raise HTTPException(400, f"days must be one of {', '.join(map(str, queries.TREND_DAYS))}")
    return days


def _alerts_or_empty(conn, status: dict, at: datetime) -> dict:
    if not status["alert_state_ready"]:
        return {
            "at": at,
            "firing": [],
            "silences": [],
            "resolved": [],
            "empty": EMPTY_ALERTS.format(version=f"at version {status['schema_version']}"),
        }
    return queries.alert_board(conn, at=at)


@app.get("/api/status")
def api_status(user: User) -> Any:
    with _db("read") as conn:
        return jsonable_encoder(queries.status(conn))


@app.get("/api/kpis")
def api_kpis(
    user: User, as_of: AsOf = None, organization_id: OrgId = None, campaign_id: CampaignId = None
) -> Any:
    thresholds, warning = _thresholds()
    with _db("read") as conn:
        data = queries.kpis(conn, thresholds, today=_today(as_of), scope=_scope(organization_id, campaign_id))
    return jsonable_encoder({**data, "warning": warning})


@app.get("/api/alerts")
def api_alerts(user: User, at: At = None) -> Any:
    with _db("read") as conn:
        return jsonable_encoder(_alerts_or_empty(conn, queries.status(conn), _at(at)))


@app.get("/api/trends")
def api_trends(
    user: User,
    days: Days = 30,
    as_of: AsOf = None,
    organization_id: OrgId = None,
    campaign_id: CampaignId = None,
) -> Any:
    thresholds, _ = _thresholds()
    with _db("read") as conn:
        data = queries.trends(
            conn,
            thresholds,
            today=_today(as_of),
            days=_days(days),
            scope=_scope(organization_id, campaign_id),
        )
    return jsonable_encoder(data)


@app.get("/api/organizations")
def api_organizations(user: User, days: Days = 30, as_of: AsOf = None, limit: Limit = 100) -> Any:
    with _db("read") as conn:
        return jsonable_encoder(
            queries.organizations(conn, today=_today(as_of), days=_days(days), max_rows=limit)
        )


@app.get("/api/remediations")
def api_remediations(user: User, limit: Limit = 20) -> Any:
    with _db("read") as conn:
        if not queries.status(conn)["alert_state_ready"]:
            return []
        return jsonable_encoder(queries.remediation_audit(conn, max_rows=limit))


@app.get("/api/actions")
def api_actions(user: User, limit: Limit = 20) -> Any:
    with _db("read") as conn:
        if not queries.status(conn)["alert_state_ready"]:
            return []
        return jsonable_encoder(queries.operator_actions(conn, max_rows=limit))


@app.get("/", response_class=HTMLResponse)
def page(
    request: Request,
    user: User,
    days: Days = 30,
    as_of: AsOf = None,
    organization_id: OrgId = None,
    campaign_id: CampaignId = None,
    at: At = None,
    done: str | None = None,
) -> HTMLResponse:
    today = _today(as_of)
    scope = _scope(organization_id, campaign_id)
    thresholds, warning = _thresholds()
    with _db("read") as conn:
        context = page_context(conn, thresholds, today=today, days=_days(days), scope=scope, at=_at(at))
    board = context["board"]
    dag_ids = {a["dag_id"] for a in board["firing"]} | {s["dag_id"] for s in board["silences"]}
    may_act = {dag_id: access.can_edit_dag(request, user, dag_id) for dag_id in dag_ids if dag_id}
    html = render_page(
        context,
        root=request.scope.get("root_path", ""),
        user=access.user_name(user),
        may_act=may_act,
        csrf_token=access.csrf_token(request),
        warning=warning,
        done=done,
    )
    return HTMLResponse(html)


def page_context(
    conn, thresholds: tuple, *, today: date, days: int, scope: queries.Scope, at: datetime
) -> dict:
    """Everything the page shows, read in one connection (also what `make bench` times)."""
    status = queries.status(conn)
    kpis = queries.kpis(conn, thresholds, today=today, scope=scope)
    trend = queries.trends(conn, thresholds, today=today, days=days, scope=scope)
    charts = {
        metric: line_chart(
            f"{series['label']} per day",
            series["points"],
            start_day=trend["start_day"],
            end_day=trend["end_day"],
            target=series["target"],
            alert=series["alert"],
        )
        for metric, series in trend["series"].items()
    }
    ready = status["alert_state_ready"]
    return {
        "today": today,
        "days": days,
        "scope": scope,
        "status": status,
        "kpis": kpis,
        "charts": charts,
        "ranking": queries.organizations(conn, today=today, days=days),
        **_choices(queries.filter_choices(conn), scope),
        "board": _alerts_or_empty(conn, status, at),
        "audit": queries.remediation_audit(conn) if ready else [],
        "actions": queries.operator_actions(conn) if ready else [],
    }


def _choices(rows: list[dict], scope: queries.Scope) -> dict:
    """The filter's options: every organization; the campaigns of the chosen one (a campaign is
    picked within its organization: at capacity 1,000 campaigns would not fit one list)."""
    organizations = list({str(r["organization_id"]): r["organization_name"] for r in rows}.items())
    chosen = scope.organization_id
    if chosen is None and scope.campaign_id is not None:
        chosen = next(
            (str(r["organization_id"]) for r in rows if r["campaign_id"] == scope.campaign_id), None
        )
    campaigns = [r for r in rows if chosen is not None and str(r["organization_id"]) == chosen]
    return {
        "organization_choices": organizations,
        "campaign_choices": campaigns,
        "chosen_organization": chosen,
    }


def render_page(context: dict, *, root: str, user: str, may_act: dict, csrf_token: str, warning, done) -> str:
    return (
        _templates()
        .get_template("page.html")
        .render(
            **context,
            root=root,
            user=user,
            trend_days=queries.TREND_DAYS,
            windows=queries.KPI_WINDOWS,
            may_act=may_act,
            csrf_token=csrf_token,
            silence_choices=SILENCE_CHOICES,
            warning=warning,
            done=done,
            empty_analytics=EMPTY_ANALYTICS if context["status"]["latest_analytics_date"] is None else None,
            required_actions_url=REQUIRED_ACTIONS_URL,
            max_board_rows=MAX_BOARD_ROWS,
        )
    )


# ---- actions ----------------------------------------------------------------------------------


def _actionable(request: Request, user, alert_key: str, csrf: str | None) -> None:
    access.check_csrf(request, csrf)
    dag_id = queries.alert_dag_id(alert_key)
    if dag_id is None:
        raise HTTPException(400, f"unknown alert {alert_key!r}")
    access.require_dag_edit(request, user, dag_id)


def _done(request: Request, message: str) -> RedirectResponse:
    from urllib.parse import quote

    return RedirectResponse(f"{request.scope.get('root_path', '')}/?done={quote(message)}", status_code=303)


def _write(action):
    """Run `action(conn)` on the write connection after migrating nurture_ops; the state module's
    refusals become 400 (bad input) and 409 (nothing to act on)."""
    from nurture_ops.alerting import state

    try:
        with _db("write") as conn:
            state.ensure_schema(conn)
            return action(conn)
    except LookupError as exc:
        raise HTTPException(409, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


Field = Annotated[str, Form()]


@app.post("/actions/silence")
def silence(
    request: Request,
    user: User,
    alert_key: Field,
    reason: Field,
    minutes: Annotated[int, Form()],
    scope: Annotated[str, Form()] = "",
    all_scopes: Annotated[bool, Form()] = False,
    csrf_token: Annotated[str | None, Form()] = None,
) -> RedirectResponse:
    from nurture_ops.alerting import state

    _actionable(request, user, alert_key, csrf_token)
    if not 1 <= minutes <= MAX_SILENCE_MINUTES:
        raise HTTPException(400, f"minutes must be between 1 and {MAX_SILENCE_MINUTES}")
    now = datetime.now(UTC)
    silence_id = _write(
        lambda conn: state.silence(
            conn,
            alert_key,
            scope=None if all_scopes else scope,
            starts_at=now,
            ends_at=now + timedelta(minutes=minutes),
            by=access.user_name(user),
            reason=reason,
        )
    )
    return _done(request, f"silenced {alert_key} for {minutes} minutes (silence {silence_id})")


@app.post("/actions/lift")
def lift(
    request: Request,
    user: User,
    silence_id: Annotated[int, Form(ge=1, le=2**63 - 1)],
    reason: Field,
    csrf_token: Annotated[str | None, Form()] = None,
) -> RedirectResponse:
    from nurture_ops.alerting import state
    from nurture_ops.core import db

    access.check_csrf(request, csrf_token)
    with _db("read") as conn:
        found = (
            db.fetch_one(conn, "ops_page/select_silence.sql", {"silence_id": silence_id}, schema=state.SCHEMA)
            if queries.status(conn)["alert_state_ready"]
            else None
        )
    if found is None:
        raise HTTPException(404, f"no silence {silence_id}")
    _actionable(request, user, found["alert_key"], csrf_token)
    _write(
        lambda conn: state.lift_silence(
            conn, silence_id, by=access.user_name(user), reason=reason, at=datetime.now(UTC)
        )
    )
    return _done(request, f"lifted silence {silence_id} of {found['alert_key']}")


@app.post("/actions/acknowledge")
def acknowledge(
    request: Request,
    user: User,
    alert_key: Field,
    reason: Field,
    scope: Annotated[str, Form()] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> RedirectResponse:
    from nurture_ops.alerting import state

    _actionable(request, user, alert_key, csrf_token)
    _write(
        lambda conn: state.acknowledge(
            conn, alert_key, scope, by=access.user_name(user), reason=reason, at=datetime.now(UTC)
        )
    )
    return _done(request, f"acknowledged {alert_key}")
