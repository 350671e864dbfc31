"""The runbook's thresholds, with validated per-deployment overrides, and the package's other
Airflow Variables: one typed (pydantic) model per Variable.

Overrides come from the Airflow Variable `nurture_ops_thresholds` (JSON), read when a task runs
(model `ThresholdOverrides`, built from the catalog):

    {"high_email_failure_rate": {"failure_rate": {"alert": 15}},
     "emails_stuck_queued": {"params": {"stuck_after_minutes": 90}},
     "repeat_interval_minutes": 240}

Remediation modes and caps come from `nurture_ops_remediation` (model `RemediationOverrides`):

    {"pause_sender_workflow": "dry_run", "invalidate_hard_bounce_leads": {"mode": "dry_run", "max_rows": 500}}

The monthly maintenance reads `nurture_ops_maintenance` (`MaintenanceSettings`), the rollup
`nurture_ops_backfill_max_days` (`BackfillMaxDays`), the weekly export and the quarterly audit
`nurture_ops_workflow_backup_url` (`WorkflowBackupUrl`).

Rules common to every Variable: `null` means "not set" (the default applies); an invalid value
raises `InvalidOverride` naming the offending key, e.g.
`nurture_ops_thresholds.high_email_failure_rate.failure_rate.alert must be a finite number, got '15'`,
listing every problem found at once; nothing is guessed. Inside a task that fails it without
retries (`errors.rejected_input`). A task validates the whole Variable when it loads it; for
`nurture_ops_maintenance` only a bad value of a setting the task uses fails it (a typo in
`cleanup_mode` fails the cleanup, not the reindex). Every Variable is read when a task runs, never
while a DAG file is parsed.
"""

# No `from __future__ import annotations` here: pydantic would evaluate the string annotations
# again for each of the ~50 models built from the catalog at import, doubling the import time.

import json
import logging
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar, get_args

from annotated_types import Ge, Interval
from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    Strict,
    StringConstraints,
    ValidationError,
    WrapValidator,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from nurture_ops.core.analytics import DEFAULT_MAX_BACKFILL_DAYS
from nurture_ops.core.archiving import DEFAULT_BATCH_SIZE, LOCK_TIMEOUT_MS, MAX_BATCH_SIZE
from nurture_ops.core.catalog import CHECKS, REMEDIATIONS, Check, Remediation, Threshold
from nurture_ops.core.errors import rejected_input
from nurture_ops.core.escalation import LEVELS, EscalationLevel
from nurture_ops.core.per_organization import (
    PER_ORGANIZATION,
    OrganizationSettings,
    PerOrganization,
    default_settings,
)

log = logging.getLogger(__name__)


THRESHOLDS_VARIABLE = "nurture_ops_thresholds"
REMEDIATION_VARIABLE = "nurture_ops_remediation"
MAINTENANCE_VARIABLE = "nurture_ops_maintenance"
MAX_DAYS_VARIABLE = "nurture_ops_backfill_max_days"
BACKUP_URL_VARIABLE = "nurture_ops_workflow_backup_url"

DEFAULT_REPEAT_INTERVAL_MINUTES = 240
Mode = Literal["apply", "dry_run", "off"]
MODES: tuple[str, ...] = get_args(Mode)
CleanupMode = Literal["archive", "delete"]
CLEANUP_MODES: tuple[str, ...] = get_args(CleanupMode)


class InvalidOverride(ValueError):
    """A Variable whose value does not fit its model; the message names the offending key(s)."""


# ---- the building blocks of the models -----------------------------------------------------------


def _expect(phrase: str) -> WrapValidator:
    """Any rejection of the wrapped type reads "must be <phrase>, got <value>" (not pydantic's wording)."""

    def wrap(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError(
                "invalid_value", "must be {expected}, got {got}", {"expected": phrase, "got": repr(value)}
            ) from None

    return WrapValidator(wrap)


# JSON numbers only: not true/false, not "15", not NaN or Infinity.
Number = Annotated[float, Strict(), AllowInfNan(False), _expect("a finite number")]
Text = Annotated[str, Strict(), StringConstraints(min_length=1), _expect("a non-empty string")]


@dataclass(frozen=True)
class _UnknownKey:
    """Stands in for the value of a key its object does not know; pydantic then rejects the key
    (extra="forbid", at its own location) and `_rejection` words it with this message."""

    message: str


class _VariableObject(BaseModel):
    """A JSON object of a Variable: null means not set; unknown keys are rejected naming the known ones."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    shape: ClassVar[str] = "an object"  # "must be <shape>, got ..." for a value that is not an object
    key_kind: ClassVar[str] = "field"  # "<key>: unknown <key_kind>; <known_label>: a, b"
    known_label: ClassVar[str] = "allowed"

    @classmethod
    def known_keys(cls) -> list[str]:
        return sorted(cls.model_fields)

    @classmethod
    def shorthand(cls, data: Any) -> Any:
        """A short form of the object (e.g. a bare mode string), expanded before validation."""
        return data

    @model_validator(mode="before")
    @classmethod
    def _an_object_with_known_keys(cls, data: Any) -> Any:
        data = cls.shorthand(data)
        if not isinstance(data, dict):
            raise PydanticCustomError(
                "not_an_object", "must be {shape}, got {got}", {"shape": cls.shape, "got": repr(data)}
            )
        unknown = _UnknownKey(
            f"unknown {cls.key_kind}; {cls.known_label}: {', '.join(cls.known_keys()) or 'none'}"
        )
        return {
            key: value if key in cls.model_fields else unknown
            for key, value in data.items()
            if value is not None
        }


def _rejection(exc: ValidationError, variable: str, *, dotted: bool = True) -> InvalidOverride:
    """One message naming each offending key: `nurture_ops_thresholds.<check>.<metric>.alert must
    be ...` (dotted) or `Variable nurture_ops_maintenance: <key> must be ...`."""
    problems = []
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden" and isinstance(error["input"], _UnknownKey):
            message = error["input"].message
        sep = " " if message.startswith("must ") else ": "
        if not path:
            problems.append(f"Variable {variable} {message}")
        elif dotted:
            problems.append(f"{variable}.{path}{sep}{message}")
        else:
            problems.append(f"Variable {variable}: {path}{sep}{message}")
    if len(problems) == 1:
        return InvalidOverride(problems[0])
    return InvalidOverride(f"{len(problems)} problems in Variable {variable}:\n" + "\n".join(problems))


_Model = TypeVar("_Model", bound=BaseModel)


def _validated(model: type[_Model], value: Any, variable: str) -> _Model:
    """`value` validated as `model`; what fails is the Variable's InvalidOverride (`_rejection`)."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise _rejection(exc, variable) from None


def _json_object(raw: Any, variable: str, example: str) -> dict:
    """The Variable's JSON object; {} when unset or empty."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, json.JSONDecodeError) as exc:
        raise InvalidOverride(
            f"Variable {variable} is not valid JSON ({exc}); expected an object such as {example}"
        ) from None
    if not isinstance(value, dict):
        raise InvalidOverride(
            f"Variable {variable} must be a JSON object such as {example}, got {type(value).__name__}: {raw!r}"
        )
    return value


# ---- nurture_ops_thresholds ------------------------------------------------------------------------


class ThresholdOverride(_VariableObject):
    """One metric's levels, `{"alert": 15, "target": 5}`; a level not given keeps the catalog's.
    The target (where the runbook has one) must stay the stricter goal."""

    shape: ClassVar[str] = 'an object like {"alert": 15}'
    threshold: ClassVar[Threshold]  # the catalog's, set on each metric's subclass

    alert: Number
    target: Number | None = None

    @model_validator(mode="after")
    def _target_is_the_stricter_goal(self) -> Self:
        direction = self.threshold.direction
        if self.target is not None and (
            self.target > self.alert if direction == "above" else self.target < self.alert
        ):
            raise PydanticCustomError(
                "target_past_alert",
                "target {target} is past the alert level {alert} (alert when {direction}); "
                "the target must be the stricter goal",
                {"target": f"{self.target:g}", "alert": f"{self.alert:g}", "direction": direction},
            )
        return self

    def resolve(self) -> Threshold:
        return replace(self.threshold, alert=self.alert, target=self.target)


class ParamsOverride(_VariableObject):
    """A check's SQL parameters; each takes the type of the catalog's default (number or text)."""

    shape: ClassVar[str] = 'an object like {"stuck_after_minutes": 90}'
    key_kind: ClassVar[str] = "parameter"


class CheckOverride(_VariableObject):
    """One check's overrides: its metrics' levels and its `params`."""

    shape: ClassVar[str] = 'an object keyed by metric name (or "params")'
    key_kind: ClassVar[str] = "metric"
    check: ClassVar[Check]

    params: ParamsOverride

    def resolve(self) -> Check:
        thresholds = tuple(getattr(self, t.metric).resolve() for t in self.check.thresholds)
        params = {
            name: int(value) if isinstance(value, float) and value.is_integer() else value  # 90, not 90.0
            for name, value in self.params.model_dump().items()
        }
        return replace(self.check, thresholds=thresholds, params=params)


class _ThresholdOverridesBase(_VariableObject):
    key_kind: ClassVar[str] = "check"
    known_label: ClassVar[str] = "known checks"

    repeat_interval_minutes: Annotated[
        int, Strict(), Ge(1), _expect("at least 1 (a whole number of minutes)")
    ] = DEFAULT_REPEAT_INTERVAL_MINUTES

    @classmethod
    def known_keys(cls) -> list[str]:
        return sorted(CHECKS)

    def resolve(self) -> dict[str, Check]:
        return {key: getattr(self, key).resolve() for key in CHECKS}

    def resolve_per_organization(self) -> dict[str, OrganizationSettings]:
        return {
            key: getattr(self, key).per_organization.resolve() for key in PER_ORGANIZATION if key in CHECKS
        }


def _class_name(key: str) -> str:
    return "".join(part.title() for part in key.split("_"))


def _with(model: type[BaseModel], **class_vars: Any) -> type[BaseModel]:
    for name, value in class_vars.items():
        setattr(model, name, value)
    return model


def _defaulted(model: type[BaseModel]) -> tuple[type[BaseModel], Any]:
    """A field holding `model`, defaulting to the model's own defaults (the catalog's values)."""
    return model, Field(default_factory=model)


def _param_type(default: Any) -> Any:
    return Text if isinstance(default, str) else Number


def _check_model(check: Check) -> type[CheckOverride]:
    prefix = _class_name(check.key)
    params = create_model(
        f"{prefix}Params",
        __base__=ParamsOverride,
        **{name: (_param_type(default), default) for name, default in check.params.items()},
    )
    metrics = {
        t.metric: _with(
            create_model(
                f"{prefix}{_class_name(t.metric)}",
                __base__=ThresholdOverride,
                alert=(Number, t.alert),
                target=(Number | None, t.target),
            ),
            threshold=t,
        )
        for t in check.thresholds
    }
    fields = {name: _defaulted(model) for name, model in {**metrics, "params": params}.items()}
    if check.key in PER_ORGANIZATION:
        fields["per_organization"] = _defaulted(_per_organization_model(PER_ORGANIZATION[check.key], metrics))
    return _with(create_model(f"{prefix}Override", __base__=CheckOverride, **fields), check=check)


# Per-organization overrides of a check evaluated per organization (core/per_organization.py):
#   "per_organization": {"min_volume": 50, "organizations": {"<id>": {"failure_rate": {"alert": 30}}}}


MinVolume = Annotated[int, Strict(), Ge(0), _expect("a whole number >= 0")]


class OrganizationOverride(_VariableObject):
    """One organization's levels: per metric, as the check's own (a metric not given keeps them)."""

    shape: ClassVar[str] = 'an object keyed by metric name, like {"failure_rate": {"alert": 30}}'
    key_kind: ClassVar[str] = "metric"

    def resolve(self) -> dict[str, Threshold]:
        return {name: value.resolve() for name in type(self).model_fields if (value := getattr(self, name))}


class PerOrganizationOverride(_VariableObject):
    """`min_volume` (sends in the window below which an organization is "no data") and per
    organization id its own levels."""

    shape: ClassVar[str] = 'an object like {"min_volume": 20, "organizations": {"<organization id>": {...}}}'

    min_volume: MinVolume

    def resolve(self) -> OrganizationSettings:
        return OrganizationSettings(
            min_volume=self.min_volume,
            thresholds={org: override.resolve() for org, override in self.organizations.items()},
        )


def _per_organization_model(spec: PerOrganization, metrics: dict[str, type]) -> type[PerOrganizationOverride]:
    prefix = _class_name(spec.check_key)
    organization = create_model(
        f"{prefix}OrganizationOverride",
        __base__=OrganizationOverride,
        **{name: (model | None, None) for name, model in metrics.items()},
    )
    return create_model(
        f"{prefix}PerOrganizationOverride",
        __base__=PerOrganizationOverride,
        min_volume=(MinVolume, spec.min_volume),
        organizations=(dict[Annotated[str, Strict(), StringConstraints(min_length=1)], organization], {}),
    )


ThresholdOverrides = create_model(
    "ThresholdOverrides",
    __base__=_ThresholdOverridesBase,
    __doc__="The Variable nurture_ops_thresholds: per check (catalog key) an object of overrides, "
    "and `repeat_interval_minutes`; every field defaults to the catalog's value.",
    **{key: _defaulted(_check_model(check)) for key, check in CHECKS.items()},
)

THRESHOLDS_EXAMPLE = '{"high_email_failure_rate": {"failure_rate": {"alert": 15}}}'


def parse_thresholds(raw: Any) -> _ThresholdOverridesBase:
    """The Variable nurture_ops_thresholds (JSON text, a dict, or None) as its validated model."""
    values = _json_object(raw, THRESHOLDS_VARIABLE, THRESHOLDS_EXAMPLE)
    return _validated(ThresholdOverrides, values, THRESHOLDS_VARIABLE)


# ---- nurture_ops_remediation -----------------------------------------------------------------------


ModeValue = Annotated[Mode, _expect(f"one of {', '.join(MODES)}")]
RowCap = Annotated[int, Strict(), Ge(0), _expect("a whole number >= 0")]


class RemediationOverride(_VariableObject):
    """One fix: a mode, or `{"mode": ..., "max_rows": N}`; what is not given keeps the catalog's."""

    shape: ClassVar[str] = (
        f'a mode ({", ".join(MODES)}) or an object like {{"mode": "dry_run", "max_rows": 500}}'
    )
    mode: ModeValue
    max_rows: RowCap

    @classmethod
    def shorthand(cls, data: Any) -> Any:
        return {"mode": data} if isinstance(data, str) else data


class _RemediationOverridesBase(_VariableObject):
    key_kind: ClassVar[str] = "remediation"
    known_label: ClassVar[str] = "known"

    def mode(self, key: str) -> str:
        return getattr(self, key).mode

    def max_rows(self, key: str) -> int:
        return getattr(self, key).max_rows


def _remediation_model(spec: Remediation) -> type[RemediationOverride]:
    return create_model(
        f"{_class_name(spec.key)}Override",
        __base__=RemediationOverride,
        mode=(ModeValue, spec.default_mode),
        max_rows=(RowCap, spec.max_rows),
    )


RemediationOverrides = create_model(
    "RemediationOverrides",
    __base__=_RemediationOverridesBase,
    __doc__="The Variable nurture_ops_remediation: per fix (catalog key) its mode and cap per run.",
    **{key: _defaulted(_remediation_model(spec)) for key, spec in REMEDIATIONS.items()},
)

REMEDIATION_EXAMPLE = '{"pause_sender_workflow": "dry_run"}'


def parse_remediation(raw: Any) -> _RemediationOverridesBase:
    """The Variable nurture_ops_remediation (JSON text, a dict, or None) as its validated model."""
    values = _json_object(raw, REMEDIATION_VARIABLE, REMEDIATION_EXAMPLE)
    return _validated(RemediationOverrides, values, REMEDIATION_VARIABLE)


# ---- Settings: what the checks and fixes run with ----------------------------------------------------


@dataclass(frozen=True)
class Settings:
    checks: dict[str, Check]
    repeat_interval_minutes: int
    remediation_modes: dict[str, str]
    remediation_caps: dict[str, int]
    # check key -> its per-organization settings (core/per_organization.py), for those evaluated so
    per_organization: dict[str, OrganizationSettings] = field(default_factory=dict)

    def check(self, key: str) -> Check:
        return self.checks[key]

    def organization_settings(self, key: str) -> OrganizationSettings:
        return self.per_organization.get(key) or default_settings(PER_ORGANIZATION[key])

    def remediation(self, key: str) -> tuple[Remediation, str, int]:
        spec = REMEDIATIONS[key]
        return (
            spec,
            self.remediation_modes.get(key, spec.default_mode),
            self.remediation_caps.get(key, spec.max_rows),
        )


def build_settings(thresholds_raw: Any = None, remediation_raw: Any = None) -> Settings:
    """Settings from the two Variables' values (JSON text, dicts, or None for the catalog's)."""
    thresholds = parse_thresholds(thresholds_raw)
    remediation = parse_remediation(remediation_raw)
    return Settings(
        checks=thresholds.resolve(),
        repeat_interval_minutes=thresholds.repeat_interval_minutes,
        remediation_modes={key: remediation.mode(key) for key in REMEDIATIONS},
        remediation_caps={key: remediation.max_rows(key) for key in REMEDIATIONS},
        per_organization=thresholds.resolve_per_organization(),
    )


def load_settings() -> Settings:
    """Settings for this task run (reads the two Variables; call only inside a task)."""
    from airflow.sdk import Variable

    with rejected_input():
        return build_settings(
            Variable.get(THRESHOLDS_VARIABLE, default=None),
            Variable.get(REMEDIATION_VARIABLE, default=None),
        )


# ---- nurture_ops_escalation (the escalation matrix's waiting times) ----------------------------

ESCALATION_VARIABLE = "nurture_ops_escalation"
ESCALATION_EXAMPLE = '{"critical": {"escalate_after_minutes": 15}, "high": {"escalate_after_minutes": 60}}'
Minutes = Annotated[int, Strict(), Ge(1), _expect("a whole number of minutes >= 1")]


class EscalationLevelOverride(_VariableObject):
    """One level of the matrix: how long an unacknowledged alert waits before it is escalated."""

    shape: ClassVar[str] = 'an object like {"escalate_after_minutes": 15}'
    escalate_after_minutes: Minutes


EscalationOverrides = create_model(
    "EscalationOverrides",
    __base__=_VariableObject,
    __doc__="The Variable nurture_ops_escalation: per level of the matrix that escalates, its wait.",
    **{
        key: _defaulted(
            create_model(
                f"{_class_name(key)}EscalationOverride",
                __base__=EscalationLevelOverride,
                escalate_after_minutes=(Minutes, int(level.escalate_after.total_seconds() // 60)),
            )
        )
        for key, level in LEVELS.items()
        if level.escalate_after is not None
    },
)


def parse_escalation(raw: Any) -> dict[str, EscalationLevel]:
    """The matrix (core.escalation.LEVELS) with the Variable's waiting times applied."""
    values = _validated(
        EscalationOverrides, _json_object(raw, ESCALATION_VARIABLE, ESCALATION_EXAMPLE), ESCALATION_VARIABLE
    )
    return {
        key: replace(level, escalate_after=timedelta(minutes=getattr(values, key).escalate_after_minutes))
        if key in EscalationOverrides.model_fields
        else level
        for key, level in LEVELS.items()
    }


def load_escalation() -> dict[str, EscalationLevel]:
    """The escalation matrix for this task run (reads the Variable; call only inside a task)."""
    from airflow.sdk import Variable

    with rejected_input():
        return parse_escalation(Variable.get(ESCALATION_VARIABLE, default=None))


# ---- nurture_ops_maintenance (monthly maintenance) ---------------------------------------------


class MaintenanceSettings(_VariableObject):
    """The Variable nurture_ops_maintenance; unknown keys are logged, not fatal."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    drop_invalid_indexes: Annotated[bool, Strict(), _expect("true or false")] = False
    cleanup_mode: Annotated[
        CleanupMode,
        _expect(
            f"one of {', '.join(map(repr, CLEANUP_MODES))} "
            "(archive: move to lead_campaign_enrollments_archive; delete: remove)"
        ),
    ] = "archive"
    cleanup_batch_size: Annotated[
        int,
        Strict(),
        Interval(ge=1, le=MAX_BATCH_SIZE),
        _expect(f"a whole number from 1 to {MAX_BATCH_SIZE:,}"),
    ] = DEFAULT_BATCH_SIZE
    lock_timeout_ms: Annotated[
        int,
        Strict(),
        Interval(ge=100, le=600_000),
        _expect("a whole number of milliseconds from 100 to 600000"),
    ] = LOCK_TIMEOUT_MS


MAINTENANCE_EXAMPLE = '{"drop_invalid_indexes": true, "cleanup_mode": "archive"}'


def parse_maintenance_settings(raw: Any, uses: Collection[str] | None = None) -> MaintenanceSettings:
    """The Variable's validated model (the defaults when unset).

    The whole Variable is validated. `uses` names the settings the calling task acts on: an
    invalid value of another setting is logged and its default stands here, so a bad
    `cleanup_mode` fails the cleanup, not the reindex. With `uses=None` any invalid value fails.
    """
    if uses is not None and (typo := set(uses) - set(MaintenanceSettings.model_fields)):
        raise TypeError(f"no such maintenance setting: {', '.join(sorted(typo))}")
    values = _json_object(raw, MAINTENANCE_VARIABLE, MAINTENANCE_EXAMPLE)
    unknown = sorted(set(values) - set(MaintenanceSettings.model_fields))
    if unknown:
        log.warning(
            "Variable %s: unknown key(s) %s ignored; known keys: %s",
            MAINTENANCE_VARIABLE,
            ", ".join(unknown),
            ", ".join(MaintenanceSettings.model_fields),
        )
    try:
        return MaintenanceSettings.model_validate(values)
    except ValidationError as exc:
        rejection = _rejection(exc, MAINTENANCE_VARIABLE, dotted=False)
        bad = {str(error["loc"][0]) for error in exc.errors()}
        if uses is None or bad & set(uses):
            raise rejection from None
        log.warning("%s (not used by this task: its default applies here)", rejection)
        return MaintenanceSettings.model_validate({k: v for k, v in values.items() if k not in bad})


def load_maintenance_settings(*uses: str) -> MaintenanceSettings:
    """The Variable nurture_ops_maintenance for this task run (call only inside a task); `uses`:
    the settings this task acts on (see `parse_maintenance_settings`), all when none named."""
    from airflow.sdk import Variable

    with rejected_input():
        return parse_maintenance_settings(Variable.get(MAINTENANCE_VARIABLE, default=None), uses or None)


# ---- nurture_ops_backfill_max_days (analytics rollup) ------------------------------------------


class BackfillMaxDays(RootModel[int]):
    """The longest range one manual backfill may recompute: a whole number of days >= 1 (the
    Variable is plain text, "400")."""

    root: Annotated[int, Ge(1), _expect("a whole number of days, at least 1")] = DEFAULT_MAX_BACKFILL_DAYS


def parse_backfill_max_days(raw: Any) -> int:
    """The Variable's value (text such as "400") as a number of days; the default when unset."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return BackfillMaxDays().root
    return _validated(BackfillMaxDays, raw.strip() if isinstance(raw, str) else raw, MAX_DAYS_VARIABLE).root


def load_backfill_max_days() -> int:
    """The longest range one manual backfill may recompute (Variable, default 400 days)."""
    from airflow.sdk import Variable

    with rejected_input():
        return parse_backfill_max_days(Variable.get(MAX_DAYS_VARIABLE, default=None))


# ---- nurture_ops_workflow_backup_url (weekly export, quarterly recovery readiness) -------------

BACKUP_SUBDIR = ("nurture_ops", "workflow-backups")


class WorkflowBackupUrl(RootModel[str | None]):
    """Where workflow exports go: a URL (s3://, gs://, file://) or a local folder; unset (None or
    blank) for the default under $AIRFLOW_HOME (see `backup_url`)."""

    root: (
        Annotated[
            str,
            Strict(),
            StringConstraints(strip_whitespace=True),
            _expect("a URL (s3://, gs://, file://) or a local folder"),
        ]
        | None
    ) = None


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


def parse_backup_url(raw: Any) -> str | None:
    """The Variable's validated value, None when unset or blank."""
    return _validated(WorkflowBackupUrl, raw, BACKUP_URL_VARIABLE).root or None


def load_backup_url() -> str:
    """The workflow backup location for this task run (call only inside a task)."""
    from airflow.sdk import Variable

    with rejected_input():
        return backup_url(parse_backup_url(Variable.get(BACKUP_URL_VARIABLE, default=None)), os.environ)
