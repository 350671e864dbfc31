"""The runbook's thresholds, with validated per-deployment overrides.

Overrides come from the Airflow Variable `nurture_ops_thresholds` (JSON), read when a task runs:

    {"high_email_failure_rate": {"failure_rate": {"alert": 15}},
     "emails_stuck_queued": {"params": {"stuck_after_minutes": 90}},
     "repeat_interval_minutes": 240}

Remediation modes and caps come from `nurture_ops_remediation`:

    {"pause_sender_workflow": "dry_run", "invalidate_hard_bounce_leads": {"mode": "dry_run", "max_rows": 500}}

An invalid override fails the task with an error naming the offending key; nothing is guessed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from nurture_ops.catalog import CHECKS, REMEDIATIONS, Check, Remediation, Threshold

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

    from nurture_ops.errors import rejected_input

    with rejected_input():
        return build_settings(
            Variable.get(THRESHOLDS_VARIABLE, default=None),
            Variable.get(REMEDIATION_VARIABLE, default=None),
        )
