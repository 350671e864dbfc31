"""Pure tests of the catalog, evaluation and message building (no Airflow run)."""

from __future__ import annotations

import json

import pytest

from nurture_ops.alerting.notify import alert_message, alert_text
from nurture_ops.core.catalog import CHECKS, Threshold, get_check
from nurture_ops.core.evaluate import evaluate
from nurture_ops.core.sql import sql_root
from nurture_ops.core.text import fmt

FAILURE_RATE = get_check("high_email_failure_rate")


def test_every_check_names_an_existing_sql_file_and_runbook_actions():

    from nurture_ops.alerting.api_checks import measured_through_api

    for check in CHECKS.values():
        if check.source:  # measured through an outside API: no SQL, and a measure for check groups
            assert not check.sql and (check.role != "check" or measured_through_api(check.key)), check.key
        else:
            assert (sql_root() / check.sql).is_file(), check.sql
        assert check.actions, check.key
        assert check.severity in ("critical", "warning")
        for inhibition in check.inhibited_by:
            assert inhibition.root in CHECKS


@pytest.mark.parametrize(
    ("row", "status"),
    [
        ({"total": 420, "failed": 60, "failure_rate": 14.3}, "critical"),
        ({"total": 420, "failed": 42, "failure_rate": 10.0}, "ok"),  # the runbook says "> 10%"
        ({"total": 0, "failed": 0, "failure_rate": None}, "no_data"),
    ],
)
def test_failure_rate_statuses(row, status):
    assert evaluate(FAILURE_RATE, row).status == status


def test_alert_text_matches_the_runbook_wording():
    finding = evaluate(FAILURE_RATE, {"total": 420, "failed": 60, "failure_rate": 14.3})
    assert alert_text(FAILURE_RATE, finding, "fire") == (
        "[CRITICAL] High Email Failure Rate: 14.3% of 420 emails failed in the last 5 minutes (threshold 10%)"
    )
    ok = evaluate(FAILURE_RATE, {"total": 1204, "failed": 3, "failure_rate": 0.2})
    assert alert_text(FAILURE_RATE, ok, "resolve") == (
        "[RESOLVED] High Email Failure Rate: 0.2% of 1,204 emails failed in the last 5 minutes (threshold 10%)"
    )


def test_message_blocks_stay_within_slack_limits():
    details = {
        "organizations": [{"organization_name": "x" * 5000, "failed": 1, "total": 2}],
        "failure_reasons": [],
    }
    finding = evaluate(FAILURE_RATE, {"total": 2, "failed": 1, "failure_rate": 50.0, "details": details})
    message = alert_message(FAILURE_RATE, finding, kind="fire", run_url="http://127.0.0.1:8080/x")
    for block in message["blocks"]:
        text = block.get("text", {}).get("text", "")
        assert len(text) <= 3000
    assert message["blocks"][0]["text"]["text"].startswith(
        ":rotating_light: CRITICAL · High Email Failure Rate"
    )
    assert "Open this run in Airflow" in json.dumps(message["blocks"])


def test_target_and_alert_levels_give_warning_then_critical():
    from dataclasses import replace

    check = replace(FAILURE_RATE, thresholds=(Threshold("failure_rate", "above", alert=10, target=1),))
    assert evaluate(check, {"failure_rate": 0.5}).status == "ok"
    assert evaluate(check, {"failure_rate": 5}).status == "warning"
    assert evaluate(check, {"failure_rate": 12}).status == "critical"


def test_fmt():
    assert fmt(1204) == "1,204"
    assert fmt(14.25) == "14.2" or fmt(14.25) == "14.3"
    assert fmt(0.04) == "0.04"
    assert fmt(None) == "n/a"
