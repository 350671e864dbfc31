"""Per-organization alerts (issue 12): evaluated from one GROUP BY organization_id query, each
organization with its own alert state, grouped into one Slack message per check and run, held back
while the global alert of the check fires. dag.test() against a real PostgreSQL and the HTTP sink."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from nurture_ops.alerting import state as alert_state
from nurture_ops.core.catalog import get_check
from nurture_ops.core.per_organization import PER_ORGANIZATION, OrganizationSettings, evaluate_organization
from nurture_ops.core.settings import build_settings
from tests.builders import Seed, at

T0 = at("2026-06-01", 12, 0)
FIVE = timedelta(minutes=5)
FAILURE_RATE = get_check("high_email_failure_rate")
SPEC = PER_ORGANIZATION["high_email_failure_rate"]


# --- pure ---------------------------------------------------------------------------------------


def row(org="o1", total=25, failed=25):
    rate = round(failed * 100.0 / total, 1) if total else None
    return {
        "organization_id": org,
        "organization_name": f"Org {org}",
        "total": total,
        "failed": failed,
        "failure_rate": rate,
    }


def test_an_organization_below_the_minimum_volume_is_no_data():
    settings = OrganizationSettings(min_volume=20, thresholds={})
    small = evaluate_organization(FAILURE_RATE, SPEC, row(total=2, failed=1), settings)
    assert small.status == "no_data" and small.scope == "o1"
    assert "below the minimum of 20" in small.summary
    big = evaluate_organization(FAILURE_RATE, SPEC, row(total=20, failed=20), settings)
    assert big.status == "critical"
    assert big.summary == "Org o1: 100.0% of 20 emails failed in the last 5 minutes"


def test_per_organization_threshold_override_applies_to_that_organization_only():
    settings = build_settings(
        {
            "high_email_failure_rate": {
                "per_organization": {
                    "min_volume": 5,
                    "organizations": {"o1": {"failure_rate": {"alert": 60}}},
                }
            }
        }
    ).organization_settings("high_email_failure_rate")
    assert settings.min_volume == 5
    half = row(total=10, failed=5)
    assert evaluate_organization(FAILURE_RATE, SPEC, half, settings).status == "ok"  # 50% <= its 60%
    assert (
        evaluate_organization(FAILURE_RATE, SPEC, {**half, "organization_id": "o2"}, settings).status
        == "critical"
    )


# --- whole DAG ----------------------------------------------------------------------------------


def add_sends(seed: Seed, org, end, *, sent: int, failed: int):
    campaign = seed.campaign(org)
    lead = seed.lead(org)
    for i in range(sent + failed):
        created = end - timedelta(seconds=10 + i % 250)
        is_failed = i < failed
        seed.send(
            lead,
            campaign,
            status="failed" if is_failed else "sent",
            created_at=created,
            sent_at=None if is_failed else created,
            failure_reason="SendGrid 401 Unauthorized" if is_failed else None,
        )


def texts(sink) -> list[str]:
    return [p["text"] for p in sink.payloads()]


@pytest.mark.e2e
def test_noisy_organizations_fire_grouped_resolve_grouped_and_the_global_alert_inhibits_them(
    run_dag, db, slack_sink
):
    seed = Seed(db)
    noisy, other_noisy, quiet, tiny = (seed.org(n) for n in ("Noisy Co", "Loud Ltd", "Quiet Inc", "Tiny"))

    # Two organizations at 100 % among a big one at 0 %: globally 50 of 550 = 9.1 %, under 10 %.
    # Tiny fails 1 of 2 sends: under the minimum volume (20), it pages nobody.
    add_sends(seed, noisy, T0, sent=0, failed=25)
    add_sends(seed, other_noisy, T0, sent=0, failed=25)
    add_sends(seed, quiet, T0, sent=500, failed=0)
    add_sends(seed, tiny, T0, sent=1, failed=1)
    states = run_dag("nurture_alerts_5min", T0)
    assert states["__run__"] == "success"
    assert texts(slack_sink) == ["[CRITICAL] High Email Failure Rate, per organization: 2 started firing"]
    body = json.dumps(slack_sink.payloads()[0]["blocks"], ensure_ascii=False)
    assert "Noisy Co: 100.0% of 25 emails failed" in body and "Loud Ltd: 100.0% of 25" in body
    assert "Tiny" not in body and "Quiet Inc" not in body
    assert "Critical · respond immediately · escalates to On-call engineer → CTO" in body
    scopes = db.execute(
        "SELECT scope, firing FROM nurture_ops.alert_state WHERE alert_key = 'high_email_failure_rate' ORDER BY scope"
    ).fetchall()
    assert ("", False) in scopes and (str(noisy), True) in scopes and (str(other_noisy), True) in scopes
    assert str(quiet) not in {s for s, _ in scopes} and str(tiny) not in {s for s, _ in scopes}

    # Still firing five minutes later: nothing. Then one of them recovers: one grouped resolve.
    add_sends(seed, noisy, T0 + FIVE, sent=0, failed=25)
    add_sends(seed, other_noisy, T0 + FIVE, sent=0, failed=25)
    add_sends(seed, quiet, T0 + FIVE, sent=500, failed=0)
    run_dag("nurture_alerts_5min", T0 + FIVE)
    assert len(slack_sink.payloads()) == 1
    add_sends(seed, noisy, T0 + 2 * FIVE, sent=25, failed=0)
    add_sends(seed, other_noisy, T0 + 2 * FIVE, sent=0, failed=25)
    add_sends(seed, quiet, T0 + 2 * FIVE, sent=500, failed=0)
    run_dag("nurture_alerts_5min", T0 + 2 * FIVE)
    assert texts(slack_sink)[1:] == ["[RESOLVED] High Email Failure Rate, per organization: 1 resolved"]
    assert "Noisy Co: 0.0% of 25" in json.dumps(slack_sink.payloads()[1]["blocks"], ensure_ascii=False)

    # The global alert fires (Quiet Inc fails too): only the global message, naming the held-back
    # organization; the noisy one that starts firing meanwhile is recorded, not sent.
    add_sends(seed, noisy, T0 + 3 * FIVE, sent=0, failed=25)
    add_sends(seed, other_noisy, T0 + 3 * FIVE, sent=0, failed=25)
    add_sends(seed, quiet, T0 + 3 * FIVE, sent=50, failed=50)
    run_dag("nurture_alerts_5min", T0 + 3 * FIVE)
    assert texts(slack_sink)[2:] == [
        "[CRITICAL] High Email Failure Rate: 66.7% of 150 emails failed in the last 5 minutes (threshold 10%)"
    ]
    body = json.dumps(slack_sink.payloads()[2]["blocks"], ensure_ascii=False)
    assert "Held back while this fires" in body and "Noisy Co: 100.0% of 25" in body
    inhibited = db.execute(
        "SELECT count(*) FROM nurture_ops.alert_state WHERE alert_key = 'high_email_failure_rate' "
        "AND scope <> '' AND inhibited_by = 'high_email_failure_rate'"
    ).fetchone()
    assert inhibited == (3,)
    kinds = db.execute(
        "SELECT kind, count(*) FROM nurture_ops.alert_notifications GROUP BY kind ORDER BY kind"
    ).fetchall()
    assert kinds == [("fire", 3), ("resolve", 1)]  # two organizations and the global; one resolve


def test_grouped_message_escapes_organization_names_and_fits_100_organizations():
    from nurture_ops.alerting.notify import organization_group_message
    from nurture_ops.alerting.state import Decision
    from tests.alerting.test_escaping import HOSTILE, assert_escaped

    settings = OrganizationSettings(min_volume=20, thresholds={})
    entries = []
    for i in range(100):
        name = HOSTILE if i == 0 else f"Org {i}"
        finding = evaluate_organization(
            FAILURE_RATE, SPEC, {**row(org=f"o{i}"), "organization_name": name}, settings
        )
        kind = "resolve" if i == 99 else "fire"
        entries.append(
            (
                Decision("high_email_failure_rate", f"o{i}", kind, "", "2026-06-01T12:00:00+00:00", True),
                finding,
            )
        )
    message = organization_group_message(FAILURE_RATE, entries)
    assert (
        message["text"]
        == "[CRITICAL] High Email Failure Rate, per organization: 99 started firing, 1 resolved"
    )
    assert_escaped(message)
    assert all(len(b["text"]["text"]) <= 3000 for b in message["blocks"] if b["type"] == "section")
    assert "more" in json.dumps(message["blocks"])  # the rest summarised, not cut mid-line


def test_daily_per_organization_queries_count_the_day_of_each_organization(db):
    """The bounce and unsubscribe GROUP BY organization_id queries, on the day before the run."""
    from nurture_ops.alerting.organizations import run_measure

    seed = Seed(db)
    run = at("2026-06-02", 7, 0)
    day = at("2026-06-01", 10, 0)
    bouncy, calm = seed.org("Bouncy"), seed.org("Calm")
    for org, bounced in ((bouncy, 30), (calm, 1)):
        campaign, lead = seed.campaign(org), seed.lead(org)
        for i in range(120):
            is_bounced = i < bounced
            send = seed.send(
                lead,
                campaign,
                status="bounced" if is_bounced else "sent",
                sent_at=day + timedelta(minutes=i),
                bounce_type=("hard" if i % 2 else "soft") if is_bounced else None,
            )
            if org == calm and i < 3:
                seed.event(send, "unsubscribe", at=day + timedelta(hours=1, minutes=i))
                seed.event(send, "unsubscribe", at=day + timedelta(hours=1, minutes=i))  # a webhook retry
    seed.send(lead, campaign, status="bounced", sent_at=run)  # the run's own day: not counted

    bounces = {r["organization_name"]: r for r in run_measure(db, get_check("high_bounce_rate"), run)}
    assert bounces["Bouncy"]["total"] == 120 and bounces["Bouncy"]["bounced"] == 30
    assert float(bounces["Bouncy"]["bounce_rate"]) == 25.0 and bounces["Bouncy"]["hard_bounces"] == 15
    assert bounces["Calm"]["organization_id"] == str(calm)
    unsubscribes = {
        r["organization_name"]: r for r in run_measure(db, get_check("high_unsubscribe_rate"), run)
    }
    assert (
        unsubscribes["Calm"]["unsubscribes"] == 3 and float(unsubscribes["Calm"]["unsubscribe_rate"]) == 2.5
    )
    assert unsubscribes["Bouncy"]["unsubscribes"] == 0

    settings = build_settings().organization_settings("high_unsubscribe_rate")
    spec = PER_ORGANIZATION["high_unsubscribe_rate"]
    finding = evaluate_organization(get_check("high_unsubscribe_rate"), spec, unsubscribes["Calm"], settings)
    assert finding.status == "warning" and finding.summary.startswith(
        "Calm: 2.5% of 120 emails sent yesterday"
    )


@pytest.mark.e2e
def test_an_acknowledgement_of_one_organization_is_reported_by_its_grouped_message(run_dag, db, slack_sink):
    """Acknowledged on the Lead Nurture page for one organization: its grouped resolve reports who
    and why, once; the action is then marked announced."""
    seed = Seed(db)
    noisy, quiet = seed.org("Noisy Co"), seed.org("Quiet Inc")
    add_sends(seed, noisy, T0, sent=0, failed=25)
    add_sends(seed, quiet, T0, sent=500, failed=0)
    run_dag("nurture_alerts_5min", T0)
    alert_state.acknowledge(
        db,
        "high_email_failure_rate",
        str(noisy),
        by="alice",
        reason="<b>SendGrid key rotated</b>",
        at=T0 + FIVE,
    )
    add_sends(seed, noisy, T0 + 2 * FIVE, sent=25, failed=0)
    add_sends(seed, quiet, T0 + 2 * FIVE, sent=500, failed=0)
    run_dag("nurture_alerts_5min", T0 + 2 * FIVE)
    assert texts(slack_sink)[1:] == ["[RESOLVED] High Email Failure Rate, per organization: 1 resolved"]
    body = json.dumps(slack_sink.payloads()[1]["blocks"], ensure_ascii=False)
    assert "Acknowledged by alice" in body and "&lt;b&gt;SendGrid key rotated&lt;/b&gt;" in body
    unannounced = db.execute("SELECT count(*) FROM nurture_ops.alert_actions WHERE announced_at IS NULL")
    assert unannounced.fetchone() == (0,)
