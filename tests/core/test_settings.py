"""Pure tests of the Variables' models (core/settings.py): valid values, and each kind of invalid
value with the message that names its key. No Airflow run; the `load_*` tests read Variables
from AIRFLOW_VAR_* environment variables."""

from __future__ import annotations

import json
import logging
import math

import pytest

from nurture_ops.core import settings
from nurture_ops.core.catalog import CHECKS, REMEDIATIONS
from nurture_ops.core.settings import (
    InvalidOverride,
    MaintenanceSettings,
    build_settings,
    parse_backfill_max_days,
    parse_backup_url,
    parse_maintenance_settings,
)

KNOWN_CHECKS = ", ".join(sorted(CHECKS))
CHECK_PATH = "nurture_ops_thresholds.high_email_failure_rate"


def rejected(call, *args) -> str:
    with pytest.raises(InvalidOverride) as caught:
        call(*args)
    return str(caught.value)


# ---- nurture_ops_thresholds ----------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", "  ", "{}", {}])
def test_unset_thresholds_are_the_catalogs(raw):
    result = build_settings(raw)
    assert result.checks == CHECKS
    assert result.repeat_interval_minutes == 240


def test_overrides_apply():
    result = build_settings(
        json.dumps(
            {
                "high_email_failure_rate": {"failure_rate": {"alert": 15}},
                "emails_stuck_queued": {"params": {"stuck_after_minutes": 90}},
                "kpi_review": {"open_rate": {"alert": 15, "target": 25}},
                "repeat_interval_minutes": 60,
            }
        ),
        json.dumps({"pause_sender_workflow": "dry_run"}),
    )
    assert result.check("high_email_failure_rate").thresholds[0].alert == 15
    params = result.check("emails_stuck_queued").params
    assert params["stuck_after_minutes"] == 90 and isinstance(params["stuck_after_minutes"], int)
    open_rate = next(t for t in result.check("kpi_review").thresholds if t.metric == "open_rate")
    assert (open_rate.alert, open_rate.target, open_rate.direction) == (15, 25, "below")
    # The other metrics of the check keep the catalog's levels, in the catalog's order.
    assert [t.metric for t in result.check("kpi_review").thresholds] == [
        t.metric for t in CHECKS["kpi_review"].thresholds
    ]
    assert result.check("kpi_review").thresholds[0] == CHECKS["kpi_review"].thresholds[0]
    assert result.check("overdue_enrollments") == CHECKS["overdue_enrollments"]
    assert result.repeat_interval_minutes == 60
    assert result.remediation("pause_sender_workflow")[1] == "dry_run"


def test_null_means_not_set_and_a_dict_is_accepted():
    result = build_settings(
        {
            "high_email_failure_rate": {"failure_rate": {"alert": None, "target": None}},
            "kpi_review": None,
            "repeat_interval_minutes": None,
        }
    )
    assert result.checks == CHECKS and result.repeat_interval_minutes == 240


def test_a_fractional_param_stays_fractional_and_a_text_param_takes_text():
    result = build_settings(
        {
            "emails_stuck_queued": {"params": {"stuck_after_minutes": 7.5}},
            "workflow_execution_stopped": {"params": {"workflow_sender": "Sender v2"}},
        }
    )
    assert result.check("emails_stuck_queued").params == {"stuck_after_minutes": 7.5}
    assert result.check("workflow_execution_stopped").params["workflow_sender"] == "Sender v2"


def test_a_lowered_alert_alone_is_checked_against_the_catalogs_target():
    # kpi_review open_rate: alert when below 20, target 30; an alert level of 35 passes the target.
    assert rejected(build_settings, {"kpi_review": {"open_rate": {"alert": 35}}}) == (
        "nurture_ops_thresholds.kpi_review.open_rate: target 30 is past the alert level 35 "
        "(alert when below); the target must be the stricter goal"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "Variable nurture_ops_thresholds is not valid JSON ("),
        ('["a"]', "Variable nurture_ops_thresholds must be a JSON object such as "),
        (
            {"no_such_check": {}},
            f"nurture_ops_thresholds.no_such_check: unknown check; known checks: {KNOWN_CHECKS}",
        ),
        (
            {"high_email_failure_rate": 5},
            f'{CHECK_PATH} must be an object keyed by metric name (or "params"), got 5',
        ),
        (
            {"high_email_failure_rate": {"failure_rat": {"alert": 1}}},
            f"{CHECK_PATH}.failure_rat: unknown metric; allowed: failure_rate, params, per_organization",
        ),
        (
            {"high_email_failure_rate": {"failure_rate": 15}},
            f'{CHECK_PATH}.failure_rate must be an object like {{"alert": 15}}, got 15',
        ),
        (
            {"high_email_failure_rate": {"failure_rate": {"alert": 15, "level": 3}}},
            f"{CHECK_PATH}.failure_rate.level: unknown field; allowed: alert, target",
        ),
        (
            {"high_email_failure_rate": {"failure_rate": {"alert": "15"}}},
            f"{CHECK_PATH}.failure_rate.alert must be a finite number, got '15'",
        ),
        (
            {"high_email_failure_rate": {"failure_rate": {"alert": True}}},
            f"{CHECK_PATH}.failure_rate.alert must be a finite number, got True",
        ),
        (
            {"high_email_failure_rate": {"failure_rate": {"alert": math.inf}}},
            f"{CHECK_PATH}.failure_rate.alert must be a finite number, got inf",
        ),
        (
            '{"high_email_failure_rate": {"failure_rate": {"target": NaN}}}',
            f"{CHECK_PATH}.failure_rate.target must be a finite number, got nan",
        ),
        (
            {"high_email_failure_rate": {"failure_rate": {"alert": 5, "target": 9}}},
            f"{CHECK_PATH}.failure_rate: target 9 is past the alert level 5 (alert when above); "
            "the target must be the stricter goal",
        ),
        (
            {"emails_stuck_queued": {"params": 90}},
            "nurture_ops_thresholds.emails_stuck_queued.params must be an object like "
            '{"stuck_after_minutes": 90}, got 90',
        ),
        (
            {"emails_stuck_queued": {"params": {"stuck_after": 1}}},
            "nurture_ops_thresholds.emails_stuck_queued.params.stuck_after: unknown parameter; "
            "allowed: stuck_after_minutes",
        ),
        (
            {"high_email_failure_rate": {"params": {"window": 1}}},
            f"{CHECK_PATH}.params.window: unknown parameter; allowed: none",
        ),
        (
            {"emails_stuck_queued": {"params": {"stuck_after_minutes": "90"}}},
            "nurture_ops_thresholds.emails_stuck_queued.params.stuck_after_minutes must be a finite "
            "number, got '90'",
        ),
        (
            {"workflow_execution_stopped": {"params": {"workflow_sender": ""}}},
            "nurture_ops_thresholds.workflow_execution_stopped.params.workflow_sender must be a "
            "non-empty string, got ''",
        ),
        (
            {"repeat_interval_minutes": 0},
            "nurture_ops_thresholds.repeat_interval_minutes must be at least 1 (a whole number of "
            "minutes), got 0",
        ),
        (
            {"repeat_interval_minutes": 60.5},
            "nurture_ops_thresholds.repeat_interval_minutes must be at least 1 (a whole number of "
            "minutes), got 60.5",
        ),
    ],
)
def test_invalid_thresholds_are_rejected_with_the_key_named(raw, message):
    text = rejected(build_settings, json.dumps(raw) if isinstance(raw, dict) else raw)
    assert text.startswith(message), text
    if isinstance(raw, dict):
        assert text == message  # one problem, one line, nothing else


def test_every_problem_is_reported_at_once():
    text = rejected(
        build_settings,
        {
            "no_such_check": {},
            "high_email_failure_rate": {"failure_rate": {"alert": "ten"}},
            "repeat_interval_minutes": 0,
        },
    )
    lines = text.splitlines()
    assert lines[0] == "3 problems in Variable nurture_ops_thresholds:"
    assert sorted(line.split(" ")[0].rstrip(":") for line in lines[1:]) == [
        f"{CHECK_PATH}.failure_rate.alert",
        "nurture_ops_thresholds.no_such_check",
        "nurture_ops_thresholds.repeat_interval_minutes",
    ]


def test_the_catalog_defaults_satisfy_their_own_model():
    """Every catalog target is on the right side of its alert level (validated, not just defaulted)."""
    explicit = {
        key: {t.metric: {"alert": t.alert, "target": t.target} for t in check.thresholds}
        | {"params": dict(check.params)}
        for key, check in CHECKS.items()
    }
    assert build_settings(explicit).checks == CHECKS


# ---- nurture_ops_remediation ---------------------------------------------------------------------


def test_unset_remediation_is_the_catalogs():
    result = build_settings(None, None)
    for key, spec in REMEDIATIONS.items():
        assert result.remediation(key) == (spec, spec.default_mode, spec.max_rows)


def test_remediation_mode_and_cap():
    result = build_settings(
        None,
        {
            "pause_sender_workflow": "apply",
            "invalidate_hard_bounce_leads": {"mode": "dry_run", "max_rows": 500},
            "recompute_missing_analytics": {"max_rows": 0},
        },
    )
    assert result.remediation("pause_sender_workflow")[1:] == ("apply", 1)
    assert result.remediation("invalidate_hard_bounce_leads")[1:] == ("dry_run", 500)
    assert result.remediation("recompute_missing_analytics")[1:] == ("apply", 0)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "Variable nurture_ops_remediation is not valid JSON ("),
        ('"apply"', "Variable nurture_ops_remediation must be a JSON object such as "),
        (
            {"nope": "apply"},
            "nurture_ops_remediation.nope: unknown remediation; known: " + ", ".join(sorted(REMEDIATIONS)),
        ),
        (
            {"pause_sender_workflow": "yes"},
            "nurture_ops_remediation.pause_sender_workflow.mode must be one of apply, dry_run, off, got 'yes'",
        ),
        (
            {"pause_sender_workflow": {"mode": "on"}},
            "nurture_ops_remediation.pause_sender_workflow.mode must be one of apply, dry_run, off, got 'on'",
        ),
        (
            {"pause_sender_workflow": 1},
            "nurture_ops_remediation.pause_sender_workflow must be a mode (apply, dry_run, off) or an "
            'object like {"mode": "dry_run", "max_rows": 500}, got 1',
        ),
        (
            {"pause_sender_workflow": {"mode": "off", "rows": 1}},
            "nurture_ops_remediation.pause_sender_workflow.rows: unknown field; allowed: max_rows, mode",
        ),
        (
            {"pause_sender_workflow": {"max_rows": -1}},
            "nurture_ops_remediation.pause_sender_workflow.max_rows must be a whole number >= 0, got -1",
        ),
        (
            {"pause_sender_workflow": {"max_rows": 2.5}},
            "nurture_ops_remediation.pause_sender_workflow.max_rows must be a whole number >= 0, got 2.5",
        ),
    ],
)
def test_invalid_remediation_is_rejected_with_the_key_named(raw, message):
    text = rejected(build_settings, None, json.dumps(raw) if isinstance(raw, dict) else raw)
    assert text.startswith(message), text


# ---- nurture_ops_maintenance ---------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", " ", "{}"])
def test_unset_maintenance_settings_are_the_defaults(raw):
    assert parse_maintenance_settings(raw) == MaintenanceSettings(
        drop_invalid_indexes=False, cleanup_mode="archive", cleanup_batch_size=5000, lock_timeout_ms=5000
    )


def test_maintenance_settings():
    values = parse_maintenance_settings(
        '{"drop_invalid_indexes": true, "cleanup_mode": "delete", "cleanup_batch_size": 250, '
        '"lock_timeout_ms": null}'
    )
    assert (values.drop_invalid_indexes, values.cleanup_mode, values.cleanup_batch_size) == (
        True,
        "delete",
        250,
    )
    assert values.lock_timeout_ms == 5000  # null: the default


def test_unknown_maintenance_keys_are_logged_not_fatal(caplog):
    with caplog.at_level(logging.WARNING, logger=settings.__name__):
        values = parse_maintenance_settings('{"drop_invalid_index": true, "cleanup_mode": "delete"}')
    assert (values.drop_invalid_indexes, values.cleanup_mode) == (False, "delete")
    assert "nurture_ops_maintenance: unknown key(s) drop_invalid_index ignored" in caplog.text


MAINTENANCE = "Variable nurture_ops_maintenance: "


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "Variable nurture_ops_maintenance is not valid JSON ("),
        ("[1]", "Variable nurture_ops_maintenance must be a JSON object such as "),
        (
            '{"drop_invalid_indexes": "yes"}',
            MAINTENANCE + "drop_invalid_indexes must be true or false, got 'yes'",
        ),
        ('{"drop_invalid_indexes": 1}', MAINTENANCE + "drop_invalid_indexes must be true or false, got 1"),
        (
            '{"cleanup_mode": "shred"}',
            MAINTENANCE + "cleanup_mode must be one of 'archive', 'delete' (archive: move to "
            "lead_campaign_enrollments_archive; delete: remove), got 'shred'",
        ),
        (
            '{"cleanup_batch_size": 0}',
            MAINTENANCE + "cleanup_batch_size must be a whole number from 1 to 100,000, got 0",
        ),
        (
            '{"cleanup_batch_size": 100001}',
            MAINTENANCE + "cleanup_batch_size must be a whole number from 1 to 100,000, got 100001",
        ),
        (
            '{"cleanup_batch_size": "500"}',
            MAINTENANCE + "cleanup_batch_size must be a whole number from 1 to 100,000, got '500'",
        ),
        (
            '{"lock_timeout_ms": true}',
            MAINTENANCE
            + "lock_timeout_ms must be a whole number of milliseconds from 100 to 600000, got True",
        ),
        (
            '{"lock_timeout_ms": 99}',
            MAINTENANCE + "lock_timeout_ms must be a whole number of milliseconds from 100 to 600000, got 99",
        ),
    ],
)
def test_invalid_maintenance_settings_name_the_key(raw, message):
    text = rejected(parse_maintenance_settings, raw)
    assert text.startswith(message), text


def test_a_bad_setting_fails_only_the_tasks_that_use_it(caplog):
    raw = '{"cleanup_mode": "shred", "lock_timeout_ms": 300}'
    with caplog.at_level(logging.WARNING, logger=settings.__name__):
        values = parse_maintenance_settings(raw, uses=["lock_timeout_ms"])
    assert (values.lock_timeout_ms, values.cleanup_mode) == (300, "archive")
    assert "cleanup_mode must be one of" in caplog.text and "not used by this task" in caplog.text
    assert "cleanup_mode must be one of" in rejected(parse_maintenance_settings, raw, ["cleanup_mode"])
    assert "cleanup_mode must be one of" in rejected(parse_maintenance_settings, raw)  # no uses: all
    with pytest.raises(TypeError, match="no such maintenance setting: lock_timeout"):
        parse_maintenance_settings(raw, uses=["lock_timeout"])


def test_every_bad_maintenance_setting_is_named_at_once():
    lines = rejected(
        parse_maintenance_settings, '{"cleanup_mode": "shred", "cleanup_batch_size": 0}'
    ).splitlines()
    assert lines[0] == "2 problems in Variable nurture_ops_maintenance:"
    assert [line.split(" must ")[0] for line in lines[1:]] == [
        MAINTENANCE + "cleanup_mode",
        MAINTENANCE + "cleanup_batch_size",
    ]


# ---- nurture_ops_backfill_max_days, nurture_ops_workflow_backup_url ------------------------------


@pytest.mark.parametrize(("raw", "days"), [(None, 400), ("", 400), ("30", 30), (" 30\n", 30), ("1", 1)])
def test_backfill_max_days(raw, days):
    assert parse_backfill_max_days(raw) == days


@pytest.mark.parametrize("raw", ["0", "-3", "abc", "1.5", "thirty"])
def test_invalid_backfill_max_days(raw):
    assert rejected(parse_backfill_max_days, raw) == (
        f"Variable nurture_ops_backfill_max_days must be a whole number of days, at least 1, got {raw!r}"
    )


@pytest.mark.parametrize(
    ("raw", "value"), [(None, None), ("", None), ("  ", None), (" s3://bucket/x ", "s3://bucket/x")]
)
def test_backup_url_variable(raw, value):
    assert parse_backup_url(raw) == value


def test_invalid_backup_url_variable():
    assert rejected(parse_backup_url, 5) == (
        "Variable nurture_ops_workflow_backup_url must be a URL (s3://, gs://, file://) or a local folder, got 5"
    )


# ---- loading inside a task: bad input fails without retries --------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "load", "message"),
    [
        ("NURTURE_OPS_THRESHOLDS", '{"nope": {}}', settings.load_settings, "nurture_ops_thresholds.nope"),
        ("NURTURE_OPS_REMEDIATION", '{"nope": 1}', settings.load_settings, "nurture_ops_remediation.nope"),
        (
            "NURTURE_OPS_MAINTENANCE",
            '{"lock_timeout_ms": 1}',
            settings.load_maintenance_settings,
            "lock_timeout_ms",
        ),
        (
            "NURTURE_OPS_BACKFILL_MAX_DAYS",
            "0",
            settings.load_backfill_max_days,
            "nurture_ops_backfill_max_days",
        ),
    ],
)
def test_loading_an_invalid_variable_fails_without_retries(monkeypatch, variable, value, load, message):
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv(f"AIRFLOW_VAR_{variable}", value)
    with pytest.raises(AirflowFailException) as caught:
        load()
    assert message in str(caught.value)
    assert str(caught.value).endswith("(bad input: not retried; nothing was changed)")


def test_loading_valid_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_THRESHOLDS", '{"repeat_interval_minutes": 30}')
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_MAINTENANCE", '{"cleanup_mode": "delete"}')
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_BACKFILL_MAX_DAYS", "31")
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_WORKFLOW_BACKUP_URL", str(tmp_path))
    assert settings.load_settings().repeat_interval_minutes == 30
    assert settings.load_maintenance_settings("cleanup_mode").cleanup_mode == "delete"
    assert settings.load_backfill_max_days() == 31
    assert settings.load_backup_url() == tmp_path.as_uri()
