"""The runbook's escalation matrix, as data, and the line every message carries. Pure.

| Issue Severity | Response Time | Escalation Path |
| Critical (System down) | Immediate | On-call engineer → CTO |
| High (Degraded service) | 1 hour | Team lead → Engineering manager |
| Medium (Performance issue) | 4 hours | Engineering team |
| Low (Minor bug) | Next business day | Ticket queue |

How the package's messages map onto it: critical alerts are Critical, warning alerts (the
runbook's "action within 1 hour") are High, the weekly review's performance findings are Medium,
the other reports are Low (`level_for`). Critical alerts also page PagerDuty (connection
`pagerduty_events`, if defined); a Critical or High alert still firing `escalate_after` its first
firing, unacknowledged, is escalated once to the Slack connection `slack_escalation` (if defined).
"Immediate" has no waiting time to measure: a Critical alert is escalated when nobody took it
within 15 minutes, three runs of the 5-minute DAG. The waiting times can be changed with the
Variable nurture_ops_escalation (core.settings), e.g. {"critical": {"escalate_after_minutes": 10}}.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

ESCALATION_CONN_ID = "slack_escalation"
PAGERDUTY_CONN_ID = "pagerduty_events"


@dataclass(frozen=True)
class EscalationLevel:
    key: str  # critical | high | medium | low
    name: str  # the runbook's word
    issue: str  # what the runbook calls that severity
    response: str  # "respond <response>"
    path: tuple[str, ...]
    # Unacknowledged this long after it first fired: escalated to slack_escalation (None: never).
    escalate_after: timedelta | None = None
    # Paged through PagerDuty (Events API v2) when it fires, resolved when it clears.
    pages: bool = False


LEVELS: dict[str, EscalationLevel] = {
    level.key: level
    for level in (
        EscalationLevel(
            "critical",
            "Critical",
            "System down",
            "immediately",
            ("On-call engineer", "CTO"),
            escalate_after=timedelta(minutes=15),
            pages=True,
        ),
        EscalationLevel(
            "high",
            "High",
            "Degraded service",
            "within 1 hour",
            ("Team lead", "Engineering manager"),
            escalate_after=timedelta(hours=1),
        ),
        EscalationLevel("medium", "Medium", "Performance issue", "within 4 hours", ("Engineering team",)),
        EscalationLevel("low", "Low", "Minor bug", "by the next business day", ("Ticket queue",)),
    )
}

# A check's severity (catalog) -> its level; reports name theirs (weekly review: medium).
SEVERITY_LEVELS = {"critical": "critical", "warning": "high"}


def level_for(
    severity: str | None, *, default: str = "low", levels: dict[str, EscalationLevel] | None = None
) -> EscalationLevel:
    """The matrix level of an alert severity ('critical', 'warning') or of a level key; `levels`:
    the matrix with the Variable nurture_ops_escalation applied (core.settings.load_escalation)."""
    key = SEVERITY_LEVELS.get(severity or "", severity if severity in LEVELS else default)
    return (levels or LEVELS)[key]


def matrix_line(level: EscalationLevel) -> str:
    """'High · respond within 1 hour · escalates to Team lead → Engineering manager' (plain text)."""
    return f"{level.name} · respond {level.response} · escalates to {' → '.join(level.path)}"


def dedup_key(alert_key: str, scope: str) -> str:
    """PagerDuty's dedup_key of one alert state: the alert key, and its scope when it has one."""
    return f"{alert_key}/{scope}" if scope else alert_key
