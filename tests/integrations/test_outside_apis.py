"""The wire formats of SendGrid's Stats API, SendGrid's status page (Atlassian Statuspage v2) and
Supabase's Management API backups, each against its stand-in over HTTP (dev/fake_sendgrid.py,
dev/fake_supabase.py): the happy path with exact numbers, an API error, a timeout, a malformed
answer, and the connection not configured."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from dev.fake_sendgrid import DEV_API_KEY as SENDGRID_KEY
from dev.fake_sendgrid import metrics
from dev.fake_supabase import DEV_TOKEN, backup
from nurture_ops.integrations import sendgrid, statuspage, supabase
from nurture_ops.integrations.http_api import ApiError, NotConfigured, read_connection

AT = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)


# ---- SendGrid Stats API ----------------------------------------------------------------------------


def test_stats_happy_path(fake_sendgrid):
    fake_sendgrid.stats = {
        "2026-05-25": metrics(
            requests=310, delivered=301, bounces=4, blocks=2, bounce_drops=1, unique_opens=120
        ),
        "2026-05-26": metrics(requests=280, delivered=275, spam_reports=1, unique_clicks=21, unsubscribes=2),
    }

    days = sendgrid.daily_stats(sendgrid.client(), date(2026, 5, 25), date(2026, 5, 27))

    assert list(days) == ["2026-05-25", "2026-05-26", "2026-05-27"]
    assert days["2026-05-25"] == {
        "requests": 310,
        "delivered": 301,
        "bounces": 4,
        "blocks": 2,
        "bounce_drops": 1,
        "spam_reports": 0,
        "unique_opens": 120,
        "unique_clicks": 0,
        "unsubscribes": 0,
    }
    assert days["2026-05-26"]["spam_reports"] == 1 and days["2026-05-26"]["unsubscribes"] == 2
    assert set(days["2026-05-27"].values()) == {0}
    assert fake_sendgrid.queries == [
        {"start_date": ["2026-05-25"], "end_date": ["2026-05-27"], "aggregated_by": ["day"]}
    ]
    assert fake_sendgrid.headers[0]["Authorization"] == f"Bearer {SENDGRID_KEY}"


def test_stats_wrong_key_is_a_401_with_sendgrids_message_and_no_retry(fake_sendgrid, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SENDGRID_API", fake_sendgrid.connection_json("not-the-key"))

    with pytest.raises(
        ApiError, match=r"returned 401 Unauthorized: authorization required\. Check the API key"
    ) as exc:
        sendgrid.daily_stats(sendgrid.client(), date(2026, 5, 25), date(2026, 5, 31))

    assert exc.value.status == 401
    assert "not-the-key" not in str(exc.value)
    assert len(fake_sendgrid.calls) == 1


def test_stats_a_503_is_retried(fake_sendgrid):
    fake_sendgrid.fail_next(1, 503)

    days = sendgrid.daily_stats(sendgrid.client(retry_wait_s=0.01), date(2026, 5, 25), date(2026, 5, 25))

    assert days == {"2026-05-25": dict.fromkeys(sendgrid.METRICS, 0)}
    assert len(fake_sendgrid.calls) == 2


def test_stats_timeout(fake_sendgrid):
    fake_sendgrid.delay_s = 1.0

    with pytest.raises(ApiError, match=r"SendGrid did not answer GET .*/v3/stats\?.* within 0.2 s"):
        sendgrid.daily_stats(sendgrid.client(timeout=0.2, attempts=1), date(2026, 5, 25), date(2026, 5, 31))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"errors": []}, "expected a list of days, got dict"),
        ([{"date": "2026-05-25"}], "a day without a 'stats' list"),
        ([{"date": "yesterday", "stats": []}], "a day without a valid 'date'"),
        ([{"date": "2026-05-25", "stats": [{"metrics": {"delivered": "12"}}]}], "delivered is not a count"),
    ],
)
def test_stats_malformed(fake_sendgrid, body, expected):
    fake_sendgrid.stats_body = json.dumps(body)

    with pytest.raises(ApiError, match=expected):
        sendgrid.daily_stats(sendgrid.client(), date(2026, 5, 25), date(2026, 5, 25))


def test_stats_not_configured(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SENDGRID_API", raising=False)

    with pytest.raises(NotConfigured, match="the Airflow connection 'sendgrid_api' is not defined"):
        sendgrid.client()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SENDGRID_API", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9"})
    )
    with pytest.raises(NotConfigured, match="SendGrid API key is empty"):
        sendgrid.client()


# ---- SendGrid's status page ------------------------------------------------------------------------


def test_status_operational(fake_sendgrid):
    status = statuspage.fetch_status()

    assert status == {
        "known": True,
        "indicator": "none",
        "description": "All Systems Operational",
        "incidents": [],
        "url": fake_sendgrid.url,
    }
    assert fake_sendgrid.calls == [("GET", "/api/v2/summary.json")]
    assert "Authorization" not in fake_sendgrid.headers[0]  # a public page: no key sent
    assert statuspage.status_text(status) == (
        "SendGrid status: All Systems Operational (indicator none); no unresolved incidents"
    )
    assert not statuspage.likely_upstream(status)


def test_status_major_incident_is_likely_upstream(fake_sendgrid):
    fake_sendgrid.open_incident("Elevated API error rates on mail send", impact="major")

    status = statuspage.fetch_status()

    assert status["indicator"] == "major" and status["description"] == "Partial System Outage"
    assert statuspage.likely_upstream(status)
    assert statuspage.status_text(status) == (
        "SendGrid status: Partial System Outage (indicator major); unresolved incidents: Elevated API error "
        "rates on mail send (investigating, impact major). Cause likely upstream: SendGrid reports a major "
        "or critical incident"
    )


def test_status_minor_incident_is_not_upstream(fake_sendgrid):
    fake_sendgrid.open_incident("Delayed event webhooks", impact="minor")

    status = statuspage.fetch_status()

    assert status["indicator"] == "minor" and not statuspage.likely_upstream(status)
    assert "Delayed event webhooks (investigating, impact minor)" in statuspage.status_text(status)


def test_status_api_error_is_status_unknown(fake_sendgrid):
    fake_sendgrid.fail_next(2, 503)

    status = statuspage.fetch_status()

    assert status["known"] is False
    assert statuspage.status_text(status).startswith("SendGrid status unknown: SendGrid status page GET ")
    assert "returned 503" in status["error"]


def test_status_timeout_is_three_seconds_at_most(fake_sendgrid):
    fake_sendgrid.delay_s = 1.0

    status = statuspage.fetch_status(timeout=0.3)

    assert status["known"] is False
    assert "did not answer GET" in status["error"] and "within 0.3 s" in status["error"]
    assert len(fake_sendgrid.calls) == 1  # no second attempt past the deadline
    assert statuspage.TIMEOUT_S == 3.0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<html>maintenance</html>", "but not JSON"),
        (json.dumps({"status": {"indicator": "purple"}}), "no status.indicator"),
        (json.dumps({"status": {"indicator": "none"}, "incidents": {}}), "'incidents' is not a list"),
    ],
)
def test_status_malformed_is_status_unknown(fake_sendgrid, body, expected):
    fake_sendgrid.status_body = body

    status = statuspage.fetch_status()

    assert status["known"] is False and expected in status["error"]


def test_status_without_a_connection_uses_the_public_page(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SENDGRID_STATUS", raising=False)

    connection = read_connection(statuspage.SENDGRID_STATUS)

    assert connection.host == "https://status.sendgrid.com"


def test_status_unreachable_is_status_unknown():
    # conftest points sendgrid_status at a closed local port
    text = statuspage.status_text(statuspage.fetch_status())

    assert text.startswith("SendGrid status unknown: could not connect to SendGrid status page")
    assert "connection refused" in text


# ---- Supabase backups ------------------------------------------------------------------------------


def test_backups_happy_path(fake_supabase):
    fake_supabase.backups = [
        backup(AT - timedelta(hours=5, minutes=30)),
        backup(AT - timedelta(hours=29, minutes=30)),
        backup(AT + timedelta(hours=1)),  # after the run: not looked at
    ]

    verdict = supabase.verify_backups(AT, 26)

    assert verdict["state"] == "ok"
    assert verdict["latest_completed_at"] == "2026-06-01T01:30:00+00:00"
    assert verdict["age_hours"] == 5.5 and verdict["backups"] == 2
    assert verdict["text"] == (
        "latest backup completed 2026-06-01 01:30 UTC, 5.5 h before the run; point-in-time recovery off"
    )
    assert fake_supabase.calls == [("GET", "/v1/projects/devprojectref/database/backups")]
    assert fake_supabase.headers[0]["Authorization"] == f"Bearer {DEV_TOKEN}"
    assert "project_ref" not in fake_supabase.headers[0]  # a setting, not a header


def test_backups_too_old_or_failed_are_missing(fake_supabase):
    fake_supabase.backups = [backup(AT - timedelta(hours=3), "FAILED"), backup(AT - timedelta(hours=27))]

    verdict = supabase.verify_backups(AT, 26)

    assert verdict["state"] == "missing"
    assert verdict["text"] == (
        "the latest completed backup is 27 h old (limit 26 h); the latest backup (2026-06-01 04:00 UTC) is FAILED"
    )


def test_backups_pitr_is_reported_and_counts(fake_supabase):
    fake_supabase.backups = []
    fake_supabase.pitr_enabled = True
    fake_supabase.physical_backup_data = {
        "earliest_physical_backup_date_unix": int((AT - timedelta(days=7)).timestamp()),
        "latest_physical_backup_date_unix": int((AT - timedelta(minutes=12)).timestamp()),
    }

    verdict = supabase.verify_backups(AT, 26)

    assert verdict["state"] == "ok" and verdict["pitr_enabled"] is True and verdict["pitr_age_hours"] == 0.2
    assert (
        verdict["text"] == "no daily backup listed; point-in-time recovery on, latest restore point 0.2 h old"
    )


def test_backups_none_at_all(fake_supabase):
    fake_supabase.backups = []

    verdict = supabase.verify_backups(AT, 26)

    assert verdict == {**verdict, "state": "missing", "text": "no completed backup among 0 listed"}


def test_backups_api_error(fake_supabase, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SUPABASE_API", fake_supabase.connection_json(project_ref="otherproject"))

    verdict = supabase.verify_backups(AT, 26)

    assert verdict["state"] == "api_failed"
    assert verdict["text"].startswith("API failed: Supabase Management API GET ")
    assert "returned 404 Not Found: Project not found" in verdict["text"]


def test_backups_timeout(fake_supabase):
    fake_supabase.delay_s = 1.0

    verdict = supabase.verify_backups(AT, 26, timeout=0.2, attempts=1)

    assert verdict["state"] == "api_failed" and "did not answer GET" in verdict["text"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (json.dumps({"region": "eu"}), "no 'backups' list"),
        (json.dumps({"backups": [{"inserted_at": "2026-06-01T00:00:00Z"}]}), "a backup without a status"),
        (
            json.dumps({"backups": [{"status": "COMPLETED", "inserted_at": "soon"}]}),
            "without a valid inserted_at",
        ),
    ],
)
def test_backups_malformed(fake_supabase, body, expected):
    fake_supabase.body = body

    verdict = supabase.verify_backups(AT, 26)

    assert verdict["state"] == "api_failed" and expected in verdict["text"]


def test_backups_not_configured(fake_supabase, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SUPABASE_API")
    assert supabase.verify_backups(AT, 26) == {
        "state": "not_configured",
        "text": "not configured: the Airflow connection 'supabase_api' is not defined (type http, host = "
        "the Supabase Management API base URL, password = the API key)",
    }
    monkeypatch.setenv("AIRFLOW_CONN_SUPABASE_API", fake_supabase.connection_json(project_ref=""))
    assert supabase.verify_backups(AT, 26)["text"] == (
        "not configured: the Supabase project ref is empty: set extra 'project_ref' of the Airflow "
        "connection 'supabase_api'"
    )
    assert fake_supabase.calls == []


@pytest.mark.parametrize("stamp", [True, 10**20, float("nan")])
def test_backups_restore_point_in_a_shape_we_cannot_read_is_an_api_failure_not_a_crash(fake_supabase, stamp):
    """A boolean is not a time; a millisecond (or absurd) number or NaN cannot be one."""
    fake_supabase.backups = []
    fake_supabase.pitr_enabled = True
    fake_supabase.physical_backup_data = {"latest_physical_backup_date_unix": stamp}

    verdict = supabase.verify_backups(AT, 26)

    if stamp is True:  # not read as 1970: no restore point at all
        assert verdict["state"] == "missing"
    else:
        assert verdict["state"] == "api_failed"
        assert verdict["text"].startswith(
            "API failed: Supabase answered with a backup list this check cannot read"
        )
