"""Every endpoint of the Lead Nurture page against seeded campaign_analytics and alert states, through
the api-server app (the plugin as Airflow mounts it). Expected values are computed here from the
seeded rows, as the runbook defines each rate."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from nurture_ops.alerting import state as alert_state
from nurture_ops.alerting.remediation import RunInfo, audit
from nurture_ops.core.catalog import REMEDIATIONS, get_check
from nurture_ops.core.evaluate import evaluate, threshold_status
from nurture_ops.ops_page import queries
from tests.builders import Seed, at

BASE = "/nurture-ops"
TODAY = date(2026, 6, 10)
T = at("2026-06-10", 9)  # the alert states' evaluations
BOARD_AT = at("2026-06-10", 10)
KPI = get_check("kpi_review")


def pct(numerator: int, denominator: int) -> float | None:
    """A percentage with 2 decimals, rounded half away from zero as PostgreSQL's ROUND(numeric)."""
    if denominator == 0:
        return None
    return float((Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def rates(rows: list[dict]) -> dict:
    def total(column: str) -> int:
        return sum(r[column] for r in rows)

    sent = total("emails_sent_today")
    return {
        "emails_sent": sent,
        "delivery_rate": pct(
            total("emails_delivered_today"),
            total("emails_delivered_today") + total("emails_failed_today") + total("emails_bounced_today"),
        ),
        "open_rate": pct(total("unique_opens_today"), sent),
        "click_rate": pct(total("unique_clicks_today"), sent),
        "unsubscribe_rate": pct(total("unsubscribes_today"), sent),
        "bounce_rate": pct(total("emails_bounced_today"), sent),
        "failure_rate": pct(total("emails_failed_today"), sent),
    }


class Analytics:
    """Three campaigns of two organizations, 95 days back from TODAY (TODAY itself too: outside
    every window), every 11th day missing, figures varying by campaign and day."""

    def __init__(self, db):
        seed = Seed(db)
        self.acme = seed.org("Acme Corp")
        self.beta = seed.org("Beta Ltd")
        self.campaigns = {
            "welcome": (seed.campaign(self.acme, "Welcome"), self.acme, 100),
            "reengage": (seed.campaign(self.acme, "Re-engage"), self.acme, 60),
            "onboarding": (seed.campaign(self.beta, "Onboarding"), self.beta, 40),
        }
        self.rows: list[dict] = []
        for campaign_id, org, base in self.campaigns.values():
            for offset in range(95):
                if offset % 11 == 5:
                    continue
                day = TODAY - timedelta(days=offset)
                sent = base + (offset % 7) * 3
                failed, bounced = offset % 3, (offset + base) % 5 + (3 if org == self.beta else 0)
                figures = {
                    "emails_delivered_today": sent - failed - bounced,
                    "emails_failed_today": failed,
                    "emails_bounced_today": bounced,
                    "unique_opens_today": sent * (20 + offset % 13) // 100,
                    "unique_clicks_today": sent * (offset % 6) // 100,
                    "unsubscribes_today": (offset + base) % 4 // 3,
                }
                seed.analytics(campaign_id, day, emails_sent=sent, org_id=org, **figures)
                self.rows.append(
                    {"campaign_id": campaign_id, "org": org, "day": day, "emails_sent_today": sent, **figures}
                )

    def window(self, days: int, *, org=None, campaign_id=None) -> list[dict]:
        start = TODAY - timedelta(days=days)
        return [
            r
            for r in self.rows
            if start <= r["day"] < TODAY
            and (org is None or r["org"] == org)
            and (campaign_id is None or r["campaign_id"] == campaign_id)
        ]


@pytest.fixture
def analytics(db) -> Analytics:
    return Analytics(db)


def expected_kpi_rows(data: Analytics, **scope) -> list[dict]:
    windows = {name: rates(data.window(days, **scope)) for name, days in queries.KPI_WINDOWS}
    rows = []
    for t in KPI.thresholds:
        if t.metric not in queries.ANALYTICS_KPIS:
            continue
        values = {}
        for name, _ in queries.KPI_WINDOWS:
            value = windows[name][t.metric]
            values[name] = {"value": value, "status": threshold_status(t, value, "critical")}
        rows.append(values)
    return rows


def test_kpis_for_yesterday_7_and_30_days_against_the_catalogs_levels(admin, analytics):
    body = admin.get(f"{BASE}/api/kpis", params={"as_of": TODAY.isoformat()}).json()

    assert [r["metric"] for r in body["rows"]] == list(queries.ANALYTICS_KPIS)
    assert [r["values"] for r in body["rows"]] == expected_kpi_rows(analytics)
    assert body["rows"][1] == {
        "metric": "open_rate",
        "label": "Open Rate",
        "target": "> 30%",
        "alert": "< 20%",
        "values": body["rows"][1]["values"],
    }
    assert {n: w["emails_sent"] for n, w in body["windows"].items()} == {
        name: rates(analytics.window(days))["emails_sent"] for name, days in queries.KPI_WINDOWS
    }
    assert body["windows"]["yesterday"]["start_day"] == "2026-06-09"
    assert body["not_shown"] == ["Scheduler Success Rate", "Sender Success Rate"]


def test_kpis_for_one_organization_and_one_campaign(admin, analytics):
    params = {"as_of": TODAY.isoformat(), "organization_id": str(analytics.beta)}
    by_org = admin.get(f"{BASE}/api/kpis", params=params).json()
    assert [r["values"] for r in by_org["rows"]] == expected_kpi_rows(analytics, org=analytics.beta)

    welcome = analytics.campaigns["welcome"][0]
    by_campaign = admin.get(
        f"{BASE}/api/kpis", params={"as_of": TODAY.isoformat(), "campaign_id": welcome}
    ).json()
    assert [r["values"] for r in by_campaign["rows"]] == expected_kpi_rows(analytics, campaign_id=welcome)


@pytest.mark.parametrize("days", [30, 90])
def test_trends_per_day_with_targets(admin, analytics, days):
    body = admin.get(f"{BASE}/api/trends", params={"as_of": TODAY.isoformat(), "days": days}).json()

    window = analytics.window(days)
    day_list = sorted({r["day"] for r in window})
    assert body["start_day"] == (TODAY - timedelta(days=days)).isoformat()
    for metric in queries.TREND_METRICS:
        series = body["series"][metric]
        expected = [
            {"day": d.isoformat(), "value": rates([r for r in window if r["day"] == d])[metric]}
            for d in day_list
        ]
        assert series["points"] == expected
        threshold = next(t for t in KPI.thresholds if t.metric == metric)
        assert (series["target"], series["alert"]) == (threshold.target, threshold.alert)
    assert body["emails_sent"] == [
        {"day": d.isoformat(), "value": sum(r["emails_sent_today"] for r in window if r["day"] == d)}
        for d in day_list
    ]


def test_trends_of_one_campaign_and_bad_days(admin, analytics):
    reengage = analytics.campaigns["reengage"][0]
    body = admin.get(
        f"{BASE}/api/trends", params={"as_of": TODAY.isoformat(), "days": 30, "campaign_id": reengage}
    ).json()
    window = analytics.window(30, campaign_id=reengage)
    assert [p["value"] for p in body["series"]["bounce_rate"]["points"]] == [
        rates([r])["bounce_rate"] for r in sorted(window, key=lambda r: r["day"])
    ]
    assert admin.get(f"{BASE}/api/trends", params={"days": 7}).status_code == 400
    assert admin.get(f"{BASE}/api/kpis", params={"organization_id": "not-a-uuid"}).status_code == 400
    # Past bigint, or a reference day whose windows would reach before year 1: 4xx, not a 500.
    assert admin.get(f"{BASE}/api/kpis", params={"campaign_id": 10**20}).status_code == 422
    early = admin.get(f"{BASE}/api/kpis", params={"as_of": "0001-01-05"})
    assert early.status_code == 400 and "as_of must be on or after 2000-01-01" in early.json()["detail"]


def test_organizations_ranked_by_bounce_unsubscribe_and_failure_rate(admin, analytics):
    body = admin.get(f"{BASE}/api/organizations", params={"as_of": TODAY.isoformat(), "days": 30}).json()

    expected = []
    for org, name in ((analytics.acme, "Acme Corp"), (analytics.beta, "Beta Ltd")):
        r = rates(analytics.window(30, org=org))
        expected.append(
            {
                "organization_id": str(org),
                "organization_name": name,
                "emails_sent": r["emails_sent"],
                "bounce_rate": r["bounce_rate"],
                "unsubscribe_rate": r["unsubscribe_rate"],
                "failure_rate": r["failure_rate"],
            }
        )
    expected.sort(key=lambda o: (-o["bounce_rate"], -o["unsubscribe_rate"], -o["failure_rate"]))
    assert body == expected
    assert body[0]["organization_name"] == "Beta Ltd"  # the seed gives Beta 3 more bounces a day


def fire(conn, key: str, metrics: dict, when, *, scope: str = "") -> None:
    finding = evaluate(get_check(key), metrics)
    if scope:
        finding = type(finding).from_dict({**finding.to_dict(), "scope": scope})
    decision = alert_state.record(conn, finding, evaluated_at=when, repeat_interval=timedelta(hours=4))
    alert_state.note_evaluation_run(
        conn, key, finding.scope, evaluated_at=when, run=f"nurture_alerts_5min/scheduled__{when.isoformat()}"
    )
    if decision.due:
        severity = finding.status if decision.kind != "resolve" else None
        alert_state.deliver(conn, decision, lambda: None, severity=severity, text="x", slack_conn_id="s")


@pytest.fixture
def alerts(db):
    alert_state.ensure_schema(db)
    fire(db, "high_email_failure_rate", {"total": 40, "failed": 12, "failure_rate": 30.0}, T)
    alert_state.acknowledge(db, "high_email_failure_rate", by="alice", reason="SendGrid incident", at=T)
    fire(db, "high_bounce_rate", {"bounce_rate": 7.5, "total": 200}, T - timedelta(hours=2))
    silence_id = alert_state.silence(
        db,
        "high_bounce_rate",
        scope=None,
        starts_at=T,
        ends_at=T + timedelta(hours=4),
        by="bob",
        reason="list cleanup running",
    )
    fire(db, "overdue_enrollments", {"overdue_enrollments": 5}, T - timedelta(hours=1))
    fire(db, "overdue_enrollments", {"overdue_enrollments": 0}, T - timedelta(minutes=30))
    return {"silence_id": silence_id}


def test_alert_board_firing_silenced_acknowledged_and_resolved(admin, alerts):
    body = admin.get(f"{BASE}/api/alerts", params={"at": BOARD_AT.isoformat()}).json()

    firing = {a["alert_key"]: a for a in body["firing"]}
    assert [a["alert_key"] for a in body["firing"]] == ["high_email_failure_rate", "high_bounce_rate"]
    failures = firing["high_email_failure_rate"]
    check = get_check("high_email_failure_rate")
    assert failures["title"] == check.title
    assert failures["severity"] == "critical"
    assert failures["first_fired_at"] == T.isoformat()
    assert (
        failures["last_summary"] == evaluate(check, {"total": 40, "failed": 12, "failure_rate": 30.0}).summary
    )
    assert failures["actions"] == list(check.actions)
    assert (failures["acknowledged"], failures["acknowledged_by"], failures["acknowledged_reason"]) == (
        True,
        "alice",
        "SendGrid incident",
    )
    assert failures["silenced"] is False
    assert failures["dag_id"] == "nurture_alerts_5min"
    assert failures["run_link"] == f"/dags/nurture_alerts_5min/runs/scheduled__{T.isoformat()}"
    bounce = firing["high_bounce_rate"]
    assert (bounce["severity"], bounce["silenced"], bounce["silenced_by"], bounce["silence_reason"]) == (
        "warning",
        True,
        "bob",
        "list cleanup running",
    )
    assert bounce["dag_id"] == "nurture_daily_health"
    assert [(s["silence_id"], s["alert_key"], s["created_by"]) for s in body["silences"]] == [
        (alerts["silence_id"], "high_bounce_rate", "bob")
    ]
    assert [(r["alert_key"], r["title"]) for r in body["resolved"]] == [
        ("overdue_enrollments", get_check("overdue_enrollments").title)
    ]
    # After the silence ends, the board no longer shows it.
    later = admin.get(f"{BASE}/api/alerts", params={"at": (T + timedelta(hours=5)).isoformat()}).json()
    assert later["silences"] == [] and not any(a["silenced"] for a in later["firing"])


def test_remediation_audit_and_operator_actions_newest_first(admin, db, alerts):
    spec = REMEDIATIONS["invalidate_hard_bounce_leads"]
    for outcome, counted, changed in (("applied", 12, 12), ("over_cap", 9000, 0)):
        audit(
            db,
            spec,
            mode="apply",
            outcome=outcome,
            rows_counted=counted,
            rows_changed=changed,
            reason="High Bounce Rate",
            detail={"message": f"{outcome} message"},
            run=RunInfo("nurture_daily_health", "scheduled__x", "high_bounce_rate.remediate", T),
            alert_key="high_bounce_rate",
        )
    body = admin.get(f"{BASE}/api/remediations").json()
    assert [(r["outcome"], r["rows_counted"], r["rows_changed"], r["message"]) for r in body] == [
        ("over_cap", 9000, 0, "over_cap message"),
        ("applied", 12, 12, "applied message"),
    ]
    assert body[0]["remediation_key"] == spec.key and body[0]["task_id"] == "high_bounce_rate.remediate"
    assert admin.get(f"{BASE}/api/remediations", params={"limit": 1}).json() == body[:1]

    acted = admin.get(f"{BASE}/api/actions").json()
    assert [(a["action"], a["alert_key"], a["actor"], a["reason"]) for a in acted] == [
        ("silence", "high_bounce_rate", "bob", "list cleanup running"),
        ("acknowledge", "high_email_failure_rate", "alice", "SendGrid incident"),
    ]  # same instant: the later action first
    assert {a["acted_at"] for a in acted} == {T.isoformat()}


def test_status(admin, analytics, db):
    body = admin.get(f"{BASE}/api/status").json()
    assert body == {
        "latest_analytics_date": TODAY.isoformat(),
        "has_alert_state": False,
        "schema_version": 0,
        "alert_state_ready": False,
    }
    alert_state.ensure_schema(db)
    body = admin.get(f"{BASE}/api/status").json()
    assert (body["alert_state_ready"], body["schema_version"]) == (True, alert_state.migrations()[-1].version)


def test_the_page_shows_kpis_board_charts_audit_and_forms(admin, analytics, alerts):
    html = admin.get(f"{BASE}/", params={"as_of": TODAY.isoformat(), "at": BOARD_AT.isoformat()}).text

    assert 'id="kpi-table"' in html
    yesterday = expected_kpi_rows(analytics)[1]["yesterday"]["value"]  # open rate
    assert re.search(
        rf'data-metric="open_rate">.*?data-window="yesterday">{yesterday:.2f}%</td>', html, re.S
    ), "yesterday's open rate in the KPI table"
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == len(queries.TREND_METRICS)
    assert 'class="series"' in html
    assert "Silenced by bob until" in html and "Acknowledged by alice at" in html
    assert 'action="/nurture-ops/actions/silence"' in html and 'name="csrf_token"' in html
    assert "Beta Ltd" in html


def test_an_empty_database_shows_what_to_run(admin):
    response = admin.get(f"{BASE}/")
    assert response.status_code == 200
    assert 'id="empty-analytics"' in response.text and "nurture_analytics_rollup" in response.text
    assert 'id="empty-alerts"' in response.text and "nurture_alerts_5min" in response.text
    alerts = admin.get(f"{BASE}/api/alerts").json()
    assert (alerts["firing"], alerts["resolved"]) == ([], [])
    assert alerts["empty"].startswith("No alert state yet")
    assert admin.get(f"{BASE}/api/remediations").json() == []
    assert admin.get(f"{BASE}/api/actions").json() == []
    kpis = admin.get(f"{BASE}/api/kpis").json()
    assert all(v["status"] == "no_data" for r in kpis["rows"] for v in r["values"].values())


def test_the_page_lists_the_campaigns_of_the_chosen_organization_and_caps_the_board(
    admin, analytics, alerts, monkeypatch
):
    from nurture_ops.ops_page import app

    html = admin.get(f"{BASE}/", params={"as_of": TODAY.isoformat(), "at": BOARD_AT.isoformat()}).text
    assert ">Acme Corp</option>" in html and ">Beta Ltd</option>" in html
    assert ">Welcome</option>" not in html  # campaigns once an organization is chosen
    chosen = admin.get(
        f"{BASE}/", params={"organization_id": str(analytics.acme), "as_of": TODAY.isoformat()}
    ).text
    assert (
        ">Welcome</option>" in chosen
        and ">Re-engage</option>" in chosen
        and ">Onboarding</option>" not in chosen
    )

    monkeypatch.setattr(app, "MAX_BOARD_ROWS", 1)
    capped = admin.get(f"{BASE}/", params={"at": BOARD_AT.isoformat()}).text
    assert (
        capped.count('<tr class="critical" data-alert=') + capped.count('<tr class="warning" data-alert=')
        == 1
    )
    assert "and 1 more firing" in capped
