"""Access to the Lead Nurture page through Airflow's own security: anonymous refused, a read-only
user sees but cannot act, actions are same-site POSTs carrying the form token, and every action
writes its audit row (who, when, why)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from nurture_ops.alerting import state as alert_state
from nurture_ops.core.catalog import get_check
from nurture_ops.core.evaluate import evaluate
from tests.ops_page.conftest import token_for

BASE = "/nurture-ops"
GETS = [
    "/",
    "/api/status",
    "/api/kpis",
    "/api/alerts",
    "/api/trends",
    "/api/organizations",
    "/api/remediations",
    "/api/actions",
]
POSTS = ["/actions/silence", "/actions/lift", "/actions/acknowledge"]
FAILING = {"total": 40, "failed": 12, "failure_rate": 30.0}


@pytest.fixture
def firing(db):
    """high_email_failure_rate firing now (evaluated a minute ago)."""
    alert_state.ensure_schema(db)
    finding = evaluate(get_check("high_email_failure_rate"), FAILING)
    alert_state.record(
        db, finding, evaluated_at=datetime.now(UTC) - timedelta(minutes=1), repeat_interval=timedelta(hours=4)
    )
    return "high_email_failure_rate"


def form_token(client) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get(f"{BASE}/").text)
    assert match, "the page carries a form token for a user who may act"
    return match.group(1)


def rows(db, sql: str) -> list[tuple]:
    return db.execute(sql).fetchall()


@pytest.mark.parametrize("path", GETS)
def test_anonymous_reads_are_refused(client, path):
    response = client.get(BASE + path)
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}


@pytest.mark.parametrize("path", POSTS)
def test_anonymous_actions_are_refused(client, db, firing, path):
    response = client.post(
        BASE + path, data={"alert_key": firing, "reason": "x", "minutes": 30, "silence_id": 1}
    )
    assert response.status_code == 401
    assert rows(db, "SELECT * FROM nurture_ops.alert_actions") == []


def test_a_forged_token_is_refused(client):
    client.cookies.set("_token", "not-a-jwt")
    assert client.get(f"{BASE}/api/status").status_code == 403
    client.cookies.clear()
    assert client.get(f"{BASE}/api/status", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403


def test_a_bearer_token_works_like_the_cookie(client, leads_db):
    response = client.get(
        f"{BASE}/api/status", headers={"Authorization": f"Bearer {token_for('viewer', 'viewer')}"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("path", GETS)
def test_a_read_only_user_sees_everything(viewer, path):
    assert viewer.get(BASE + path).status_code == 200


def test_a_read_only_user_sees_no_forms_and_cannot_act(viewer, db, firing):
    html = viewer.get(f"{BASE}/").text
    assert "read only" in html and 'action="/nurture-ops/actions/silence"' not in html
    token = re.search(r'name="csrf_token"', html)
    assert token is None
    # Even with a valid form token for its own credential, Airflow's DAG permission refuses it.
    from starlette.requests import Request

    from nurture_ops.ops_page import access

    cookie = f"_token={viewer.cookies.get('_token')}".encode()
    own_token = access.csrf_token(Request({"type": "http", "headers": [(b"cookie", cookie)]}))
    for path, data in (
        ("/actions/silence", {"alert_key": firing, "reason": "x", "minutes": 30}),
        ("/actions/acknowledge", {"alert_key": firing, "reason": "x"}),
    ):
        response = viewer.post(BASE + path, data={**data, "csrf_token": own_token})
        assert response.status_code == 403, path
        assert response.json() == {"detail": "Forbidden"}
    assert rows(db, "SELECT * FROM nurture_ops.alert_actions") == []
    assert rows(db, "SELECT * FROM nurture_ops.alert_silences") == []


def test_an_action_without_the_form_token_or_from_another_site_is_refused(admin, db, firing):
    token = form_token(admin)
    data = {"alert_key": firing, "reason": "x", "minutes": 30}
    assert admin.post(f"{BASE}/actions/silence", data=data).status_code == 403
    assert admin.post(f"{BASE}/actions/silence", data={**data, "csrf_token": "0" * 64}).status_code == 403
    cross = admin.post(
        f"{BASE}/actions/silence",
        data={**data, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert (cross.status_code, cross.json()) == (
        403,
        {"detail": "cross-site request refused (Origin https://evil.example)"},
    )
    fetch = admin.post(
        f"{BASE}/actions/silence",
        data={**data, "csrf_token": token},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert fetch.status_code == 403
    # A token is bound to the credential: another login's token does not work.
    other = token_for("admin", "admin") + "x"
    admin.cookies.set("_token", other)
    assert admin.post(f"{BASE}/actions/silence", data={**data, "csrf_token": token}).status_code == 403
    assert rows(db, "SELECT * FROM nurture_ops.alert_actions") == []


def test_silence_lift_and_acknowledge_write_their_audit_rows(admin, db, firing):
    token = form_token(admin)
    before = datetime.now(UTC)

    silenced = admin.post(
        f"{BASE}/actions/silence",
        data={"alert_key": firing, "reason": "SendGrid maintenance", "minutes": 60, "csrf_token": token},
        headers={"Origin": "http://127.0.0.1:8080", "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert silenced.status_code == 303
    assert silenced.headers["location"].startswith("/nurture-ops/?done=silenced%20high_email_failure_rate")
    (silence_id, scope, created_by, reason, starts_at, ends_at) = rows(
        db, "SELECT id, scope, created_by, reason, starts_at, ends_at FROM nurture_ops.alert_silences"
    )[0]
    assert (scope, created_by, reason) == ("", "admin", "SendGrid maintenance")
    assert ends_at - starts_at == timedelta(minutes=60) and starts_at >= before

    acknowledged = admin.post(
        f"{BASE}/actions/acknowledge",
        data={"alert_key": firing, "reason": "on it", "csrf_token": token},
        follow_redirects=False,
    )
    assert acknowledged.status_code == 303
    assert alert_state.is_acknowledged(db, firing)

    lifted = admin.post(
        f"{BASE}/actions/lift",
        data={"silence_id": silence_id, "reason": "done early", "csrf_token": token},
        follow_redirects=False,
    )
    assert lifted.status_code == 303
    assert rows(db, "SELECT lifted_by, lift_reason FROM nurture_ops.alert_silences") == [
        ("admin", "done early")
    ]

    audit = rows(
        db,
        "SELECT action, alert_key, scope, actor, reason, acted_at FROM nurture_ops.alert_actions ORDER BY id",
    )
    assert [a[:5] for a in audit] == [
        ("silence", firing, "", "admin", "SendGrid maintenance"),
        ("acknowledge", firing, "", "admin", "on it"),
        ("lift", firing, "", "admin", "done early"),
    ]
    assert all(before <= a[5] <= datetime.now(UTC) for a in audit)
    # The page shows them, newest first.
    html = admin.get(f"{BASE}/").text
    table = html[html.index('id="operator-actions"') :]
    assert table.index(">done early<") < table.index(">on it<") < table.index(">SendGrid maintenance<")


def test_a_proxied_request_with_its_forwarded_host_is_same_site(admin, firing):
    """Behind nginx (Host: the upstream's name), the browser's Origin matches X-Forwarded-Host."""
    token = form_token(admin)
    headers = {"Origin": "https://airflow.example.com", "Host": "airflow-api:8080"}
    data = {"csrf_token": token, "alert_key": firing, "reason": "on it"}
    refused = admin.post(BASE + "/actions/acknowledge", data=data, headers=headers, follow_redirects=False)
    assert refused.status_code == 403 and "cross-site" in refused.json()["detail"]
    proxied = {**headers, "X-Forwarded-Host": "airflow.example.com"}
    accepted = admin.post(BASE + "/actions/acknowledge", data=data, headers=proxied, follow_redirects=False)
    assert accepted.status_code == 303, accepted.text


def test_actions_refuse_bad_input_and_change_nothing(admin, db, firing):
    token = form_token(admin)

    def post(path, **data):
        return admin.post(BASE + path, data={"csrf_token": token, **data}, follow_redirects=False)

    assert post("/actions/silence", alert_key="no_such_alert", reason="x", minutes=30).status_code == 400
    assert post("/actions/silence", alert_key=firing, reason="x", minutes=0).status_code == 400
    assert post("/actions/silence", alert_key=firing, reason=" ", minutes=30).status_code == 400
    resolved = post("/actions/acknowledge", alert_key="overdue_enrollments", reason="x")
    assert (resolved.status_code, resolved.json()["detail"]) == (
        409,
        "overdue_enrollments (global) is not firing: nothing to acknowledge",
    )
    assert post("/actions/lift", silence_id=999, reason="x").status_code == 404
    assert post("/actions/lift", silence_id=10**20, reason="x").status_code == 422  # past bigint: not a 500
    assert rows(db, "SELECT * FROM nurture_ops.alert_actions") == []


def test_an_unreachable_database_or_a_missing_connection_says_what_to_check(viewer, monkeypatch):
    import json

    from tests.conftest import leads_db_connection_json

    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB", leads_db_connection_json("nurture", port=1))
    down = viewer.get(f"{BASE}/api/status")
    assert down.status_code == 503
    assert down.json()["detail"].startswith("The leads database is unreachable (")
    assert "check the leads_db connection" in down.json()["detail"]

    monkeypatch.delenv("AIRFLOW_CONN_LEADS_DB")
    missing = viewer.get(f"{BASE}/api/kpis")
    assert missing.status_code == 503
    assert missing.json()["detail"].startswith("The leads database connection is not configured")
    assert json.dumps(missing.json()).count("leads_db") >= 1
