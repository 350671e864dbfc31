"""Metric rows -> a finding (ok / warning / critical / no data). Pure: no Airflow, no database."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nurture_ops.core.catalog import Check, Threshold
from nurture_ops.core.text import fmt, fmt_level, plain

SEVERITY_RANK = {"ok": 0, "no_data": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Finding:
    """One evaluation. `summary` and `scope` are plain text, not mrkdwn: they are stored
    (alert_state.last_summary, where inhibition finds a root's cause with STRPOS; remediation
    reasons) and compared as they are; alerting.notify escapes them when it builds a message."""

    check_key: str
    title: str
    status: str  # ok | warning | critical | no_data
    summary: str
    metrics: dict[str, Any]
    breached: dict[str, Any] | None = None
    details: Any = None
    scope: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def firing(self) -> bool:
        return self.status in ("warning", "critical")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(**data)


def _crossed(value: float, level: float, direction: str) -> bool:
    return value > level if direction == "above" else value < level


def threshold_status(threshold: Threshold, value: Any, severity: str) -> str:
    if value is None:
        return "no_data"
    if _crossed(float(value), threshold.alert, threshold.direction):
        return severity
    if threshold.target is not None and _crossed(float(value), threshold.target, threshold.direction):
        return "warning"
    return "ok"


def describe_threshold(threshold: Threshold) -> str:
    return f"threshold {fmt_level(threshold.alert)}{threshold.unit}"


def render_summary(template: str, values: dict[str, Any]) -> str:
    """The catalog's summary template with the values formatted: plain text, unescaped (the
    templates hold no mrkdwn control character, so escaping the result is escaping the values)."""
    formatted = {k: fmt(v) for k, v in values.items()}

    class _Missing(dict):
        def __missing__(self, key: str) -> str:
            return "?"

    return template.format_map(_Missing(formatted))


def evaluate(check: Check, row: dict[str, Any] | None, *, scope: str = "") -> Finding:
    """Compare one measured row with the check's thresholds.

    Status is the worst over the thresholds; no data only when every threshold metric is NULL
    (e.g. a window with no sends), which is neither 0% nor an error.
    """
    row = plain(dict(row or {}))
    details = row.pop("details", None)
    values = {**check.params, **row}
    statuses = [(t, threshold_status(t, row.get(t.metric), check.severity)) for t in check.thresholds]
    if check.alert_level_only:  # target misses belong to the digest, not to an alert
        statuses = [(t, "ok" if s == "warning" else s) for t, s in statuses]
    if statuses and all(s == "no_data" for _, s in statuses):
        status, breached = "no_data", None
    else:
        worst = max(statuses, key=lambda ts: SEVERITY_RANK[ts[1]], default=(None, "ok"))
        status = worst[1] if worst[1] != "no_data" else "ok"
        breached = None
        if worst[0] is not None and status in ("warning", "critical"):
            t = worst[0]
            level = (
                t.alert
                if status == check.severity and _crossed(float(row[t.metric]), t.alert, t.direction)
                else t.target
            )
            breached = {
                "metric": t.metric,
                "value": row[t.metric],
                "level": level,
                "unit": t.unit,
                "direction": t.direction,
            }
    summary = render_summary(check.summary, values)
    if status == "no_data":
        summary = f"no data ({summary})"
    return Finding(
        check_key=check.key,
        title=check.title,
        status=status,
        summary=summary,
        metrics=row,
        breached=breached,
        details=details,
        scope=scope,
    )
