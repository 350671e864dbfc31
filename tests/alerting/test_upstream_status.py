"""SendGrid's status in the High Email Failure Rate message (pure: message building and settings),
and the stand-ins' own behaviour the demo and `make run` rely on."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import requests

from dev.fake_sendgrid import FakeSendGrid, stats_from_database
from nurture_ops.alerting.notify import alert_message
from nurture_ops.core.catalog import HIGH_EMAIL_FAILURE_RATE
from nurture_ops.core.evaluate import evaluate
from nurture_ops.core.settings import build_settings
from tests.builders import Seed, at

UPSTREAM = {
    "source": "SendGrid status page",
    "text": "SendGrid status: Partial System Outage (indicator major); unresolved incidents: <!channel> "
    "outage (investigating, impact major). Cause likely upstream: SendGrid reports a major or critical incident",
    "likely_upstream": True,
}


def finding(upstream: dict | None):
    found = evaluate(HIGH_EMAIL_FAILURE_RATE, {"total": 40, "failed": 12, "failure_rate": 30.0})
    return dataclasses.replace(found, extra={"upstream": upstream} if upstream else {})


def test_fire_and_reminder_carry_the_status_escaped_and_the_resolve_does_not():
    for kind in ("fire", "remind"):
        message = alert_message(HIGH_EMAIL_FAILURE_RATE, finding(UPSTREAM), kind=kind)
        body = message["blocks"][1]["text"]["text"]
        assert ":rotating_light: *SendGrid status: Partial System Outage (indicator major)" in body
        assert "&lt;!channel&gt; outage" in body and "<!channel>" not in json.dumps(message)
        assert "Cause likely upstream" in body
    resolved = alert_message(HIGH_EMAIL_FAILURE_RATE, finding(UPSTREAM), kind="resolve")
    assert "SendGrid status" not in json.dumps(resolved)


def test_status_unknown_is_shown_plain():
    unknown = {"text": "SendGrid status unknown: could not connect", "likely_upstream": False}
    body = alert_message(HIGH_EMAIL_FAILURE_RATE, finding(unknown), kind="fire")["blocks"][1]["text"]["text"]
    assert body.endswith("\nSendGrid status unknown: could not connect")


def test_without_an_enrichment_the_message_is_unchanged():
    plain = alert_message(HIGH_EMAIL_FAILURE_RATE, finding(None), kind="fire")
    assert "SendGrid status" not in json.dumps(plain)


def test_new_thresholds_are_overridable_like_the_others():
    settings = build_settings(
        {
            "sendgrid_deliverability": {
                "gap_percent": {"alert": 5},
                "spam_report_rate": {"alert": 0.5, "target": 0.2},
            },
            "n8n_execution_queue_backlog": {"queued_executions": {"alert": 250}},
            "database_backup_missing": {"params": {"max_age_hours": 30}},
        }
    )
    gap, spam = settings.check("sendgrid_deliverability").thresholds
    assert (gap.alert, spam.alert, spam.target) == (5, 0.5, 0.2)
    assert settings.check("n8n_execution_queue_backlog").thresholds[0].alert == 250
    assert settings.check("database_backup_missing").params["max_age_hours"] == 30


def test_fake_sendgrid_counts_from_the_database_and_plants_a_day(db, leads_db, monkeypatch):
    """make run's mode: stats counted at request time from the database, one day planted."""
    from datetime import UTC, datetime

    seed = Seed(db)
    org = seed.org("Acme Corp")
    campaign = seed.campaign(org, "Welcome series")
    lead = seed.lead(org)
    day = datetime.now(UTC).date() - timedelta(days=3)
    for i in range(30):
        send = seed.send(lead, campaign, status="sent", sent_at=at(day, 9, i))
        seed.event(send, "delivered", at=at(day, 9, i, 5))
    with FakeSendGrid(port=0, dsn=leads_db, plant=True) as fake:
        answer = requests.get(
            f"{fake.url}/v3/stats",
            params={"start_date": (day - timedelta(days=1)).isoformat(), "end_date": day.isoformat()},
            headers={"Authorization": f"Bearer {fake.api_key}"},
            timeout=10,
        ).json()
    assert [entry["date"] for entry in answer] == [(day - timedelta(days=1)).isoformat(), day.isoformat()]
    counted = stats_from_database(db, day, day)[day.isoformat()]
    served = answer[1]["stats"][0]["metrics"]
    assert counted["requests"] == served["requests"] == 30
    assert (counted["delivered"], served["delivered"]) == (30, 35)  # planted: at least 5 more
    assert fake.planted == {"day": day.isoformat(), "metric": "delivered", "added": 5}
