"""The runbook's thresholds, with validated per-deployment overrides.

Overrides come from the Airflow Variable `nurture_ops_thresholds` (JSON), read when a task runs:

    {"high_email_failure_rate": {"failure_rate": {"alert": 15}},
     "emails_stuck_queued": {"params": {"stuck_after_minutes": 90}},
     "repeat_interval_minutes": 240}

Remediation modes and caps come from `nurture_ops_remediation`:

    {"pause_sender_workflow": "dry_run", "invalidate_hard_bounce_leads": {"mode": "dry_run", "max_rows": 500}}

The monthly maintenance reads `nurture_ops_maintenance`, the rollup `nurture_ops_backfill_max_days`,
the weekly export and the quarterly audit `nurture_ops_workflow_backup_url`.

An invalid override fails the task with an error naming the offending key; nothing is guessed.
Every Variable is read when a task runs, never while a DAG file is parsed.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nurture_ops.core.analytics import DEFAULT_MAX_BACKFILL_DAYS
from nurture_ops.core.archiving import DEFAULT_BATCH_SIZE, LOCK_TIMEOUT_MS, MAX_BATCH_SIZE
from nurture_ops.core.catalog import CHECKS, REMEDIATIONS, Check, Remediation, Threshold
from nurture_ops.core.errors import rejected_input

log = logging.getLogger(__name__)


THRESHOLDS_VARIABLE = "nurture_ops_thresholds"
REMEDIATION_VARIABLE = "nurture_ops_remediation"
DEFAULT_REPEAT_INTERVAL_MINUTES = 240
MODES = ("apply", "dry_run", "off")


class InvalidOverride(ValueError):
    """An override Variable that does not fit the catalog."""


@dataclass(frozen=True)
class Settings:
    checks: dict[str, Check]
    repeat_interval_minutes: int
    remediation_modes: dict[str, str]
    remediation_caps: dict[str, int]

    def check(self, key: str) -> Check:
        return self.checks[key]

    def remediation(self, key: str) -> tuple[Remediation, str, int]:
        spec = REMEDIATIONS[key]
        return (
            spec,
            self.remediation_modes.get(key, spec.default_mode),
            self.remediation_caps.get(key, spec.max_rows),
        )


def _parse_json(raw: Any, variable: str) -> dict:
    if raw in (None, ""):
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidOverride(f"Variable {variable} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidOverride(f"Variable {variable} must be a JSON object, got {type(value).__name__}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidOverride(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _override_threshold(threshold: Threshold, override: Any, where: str) -> Threshold:
    if not isinstance(override, dict):
        raise InvalidOverride(f'{where} must be an object like {{"alert": 15}}, got {override!r}')
    unknown = set(override) - {"alert", "target"}
    if unknown:
        raise InvalidOverride(f"{where}: unknown field(s) {sorted(unknown)}; allowed: alert, target")
    changed = replace(
        threshold,
        alert=_number(override.get("alert", threshold.alert), f"{where}.alert"),
        target=(
            _number(override["target"], f"{where}.target")
            if override.get("target") is not None
            else threshold.target
        ),
    )
    if changed.target is not None:
        wrong_side = (
            changed.target > changed.alert if changed.direction == "above" else changed.target < changed.alert
        )
        if wrong_side:
            raise InvalidOverride(
                f"{where}: target {changed.target} is past the alert level {changed.alert} "
                f"(alert when {changed.direction}); the target must be the stricter goal"
            )
    return changed


def apply_threshold_overrides(raw: Any) -> tuple[dict[str, Check], int]:
    overrides = _parse_json(raw, THRESHOLDS_VARIABLE)
    checks = dict(CHECKS)
    repeat = DEFAULT_REPEAT_INTERVAL_MINUTES
    for key, override in overrides.items():
        where = f"{THRESHOLDS_VARIABLE}.{key}"
        if key == "repeat_interval_minutes":
            repeat = int(_number(override, where))
            if repeat < 1:
                raise InvalidOverride(f"{where} must be at least 1")
            continue
        if key not in checks:
            raise InvalidOverride(f"{where}: unknown check; known checks: {', '.join(sorted(checks))}")
        if not isinstance(override, dict):
            raise InvalidOverride(f"{where} must be an object keyed by metric name")
        check = checks[key]
        thresholds = {t.metric: t for t in check.thresholds}
        params = dict(check.params)
        for metric, value in override.items():
            if metric == "params":
                if not isinstance(value, dict):
                    raise InvalidOverride(f"{where}.params must be an object")
                for name, number in value.items():
                    if name not in params:
                        raise InvalidOverride(
                            f"{where}.params.{name}: unknown parameter; allowed: {', '.join(sorted(params)) or 'none'}"
                        )
                    value = _number(number, f"{where}.params.{name}")
                    params[name] = int(value) if value.is_integer() else value  # 90, not 90.0, in messages
            elif metric in thresholds:
                thresholds[metric] = _override_threshold(thresholds[metric], value, f"{where}.{metric}")
            else:
                allowed = ", ".join(sorted([*thresholds, "params"]))
                raise InvalidOverride(f"{where}.{metric}: unknown metric; allowed: {allowed}")
        checks[key] = replace(
            check, thresholds=tuple(thresholds[t.metric] for t in check.thresholds), params=params
        )
    return checks, repeat


def parse_remediation_overrides(raw: Any) -> tuple[dict[str, str], dict[str, int]]:
    overrides = _parse_json(raw, REMEDIATION_VARIABLE)
    modes: dict[str, str] = {}
    caps: dict[str, int] = {}
    for key, value in overrides.items():
        where = f"{REMEDIATION_VARIABLE}.{key}"
        if key not in REMEDIATIONS:
            raise InvalidOverride(f"{where}: unknown remediation; known: {', '.join(sorted(REMEDIATIONS))}")
        mode = value.get("mode") if isinstance(value, dict) else value
        if mode is not None:
            if mode not in MODES:
                raise InvalidOverride(f"{where}: mode must be one of {', '.join(MODES)}, got {mode!r}")
            modes[key] = mode
        if isinstance(value, dict) and "max_rows" in value:
            cap = _number(value["max_rows"], f"{where}.max_rows")
            if cap < 0 or cap != int(cap):
                raise InvalidOverride(f"{where}.max_rows must be a whole number >= 0")
            caps[key] = int(cap)
    return modes, caps


def build_settings(thresholds_raw: Any = None, remediation_raw: Any = None) -> Settings:
    checks, repeat = apply_threshold_overrides(thresholds_raw)
    modes, caps = parse_remediation_overrides(remediation_raw)
    return Settings(
        checks=checks, repeat_interval_minutes=repeat, remediation_modes=modes, remediation_caps=caps
    )


def load_settings() -> Settings:
    """Settings for this task run (reads the two Variables; call only inside a task)."""
    from airflow.sdk import Variable

    with rejected_input():
        return build_settings(
            Variable.get(THRESHOLDS_VARIABLE, default=None),
            Variable.get(REMEDIATION_VARIABLE, default=None),
        )


# ---- nurture_ops_maintenance (monthly maintenance) ---------------------------------------------

MAINTENANCE_VARIABLE = "nurture_ops_maintenance"
CLEANUP_MODES = ("archive", "delete")

# The keys of the Variable, their defaults, and what a valid value looks like.
MAINTENANCE_DEFAULTS: dict[str, Any] = {
    "drop_invalid_indexes": False,
    "cleanup_mode": "archive",
    "cleanup_batch_size": DEFAULT_BATCH_SIZE,
    "lock_timeout_ms": LOCK_TIMEOUT_MS,
}

MAINTENANCE_EXAMPLE = '{"drop_invalid_indexes": true, "cleanup_mode": "archive"}'


def parse_maintenance_settings(raw: str | None) -> dict[str, Any]:
    """The Variable's JSON object ({} when unset); unknown keys are logged, not fatal. A value is
    validated by `setting()` in the task that uses it, so a bad value fails that task only."""
    if raw is None or not str(raw).strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"Variable {MAINTENANCE_VARIABLE} is not valid JSON ({exc}); expected an object such as "
            f"{MAINTENANCE_EXAMPLE}."
        ) from None
    if not isinstance(value, dict):
        raise ValueError(
            f"Variable {MAINTENANCE_VARIABLE} must be a JSON object such as {MAINTENANCE_EXAMPLE}, "
            f"got {type(value).__name__}: {raw!r}."
        )
    unknown = sorted(set(value) - set(MAINTENANCE_DEFAULTS))
    if unknown:
        log.warning(
            "Variable %s: unknown key(s) %s ignored; known keys: %s",
            MAINTENANCE_VARIABLE,
            ", ".join(unknown),
            ", ".join(MAINTENANCE_DEFAULTS),
        )
    return value


def maintenance_setting(values: dict[str, Any], key: str) -> Any:
    """One validated setting, or its default when absent (or null)."""
    value = values.get(key)
    if value is None:
        return MAINTENANCE_DEFAULTS[key]
    where = f"Variable {MAINTENANCE_VARIABLE}: {key}"
    whole = isinstance(value, int) and not isinstance(value, bool)
    if key == "drop_invalid_indexes" and not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {value!r}.")
    if key == "cleanup_mode" and value not in CLEANUP_MODES:
        raise ValueError(
            f"{where} must be one of {', '.join(map(repr, CLEANUP_MODES))} "
            f"(archive: move to lead_campaign_enrollments_archive; delete: remove), got {value!r}."
        )
    if key == "cleanup_batch_size" and not (whole and 1 <= value <= MAX_BATCH_SIZE):
        raise ValueError(f"{where} must be a whole number from 1 to {MAX_BATCH_SIZE:,}, got {value!r}.")
    if key == "lock_timeout_ms" and not (whole and 100 <= value <= 600_000):
        raise ValueError(f"{where} must be a whole number of milliseconds from 100 to 600000, got {value!r}.")
    return value


def load_maintenance_settings() -> dict[str, Any]:
    """The Variable nurture_ops_maintenance for this task run (call only inside a task)."""
    from airflow.sdk import Variable

    return parse_maintenance_settings(Variable.get(MAINTENANCE_VARIABLE, default=None))


# ---- nurture_ops_backfill_max_days (analytics rollup) ------------------------------------------

MAX_DAYS_VARIABLE = "nurture_ops_backfill_max_days"


def load_backfill_max_days() -> int:
    """The longest range one manual backfill may recompute (Variable, default 400 days)."""
    from airflow.sdk import Variable

    raw = Variable.get(MAX_DAYS_VARIABLE, default=None)
    if raw in (None, ""):
        return DEFAULT_MAX_BACKFILL_DAYS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"Variable {MAX_DAYS_VARIABLE} must be a whole number of days, got {raw!r}"
        ) from None
    if value < 1:
        raise ValueError(f"Variable {MAX_DAYS_VARIABLE} must be at least 1, got {value}")
    return value


# ---- nurture_ops_workflow_backup_url (weekly export, quarterly recovery readiness) -------------

BACKUP_URL_VARIABLE = "nurture_ops_workflow_backup_url"

BACKUP_SUBDIR = ("nurture_ops", "workflow-backups")


def backup_url(configured: str | None, environ: Mapping[str, str]) -> str:
    """Where workflow exports go: the Variable's value, else $AIRFLOW_HOME/nurture_ops/workflow-backups.

    A value without a scheme is a local folder (made a file:// URL); s3://, gs://, file:// pass
    through. AIRFLOW_HOME defaults to ~/airflow as in Airflow itself.
    """
    value = (configured or "").strip()
    if value and "://" in value:
        return value
    if value:
        return Path(os.path.abspath(os.path.expanduser(value))).as_uri()
    home = environ.get("AIRFLOW_HOME") or os.path.join(environ.get("HOME", "~"), "airflow")
    return Path(os.path.abspath(os.path.expanduser(home)), *BACKUP_SUBDIR).as_uri()


def load_backup_url() -> str:
    """The workflow backup location for this task run (call only inside a task)."""
    from airflow.sdk import Variable

    return backup_url(Variable.get(BACKUP_URL_VARIABLE, default=None), os.environ)
