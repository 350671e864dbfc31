"""nurture_remediation_approval: the request's params, checked; the decision read from the
approval task's result; the Slack text of the outcome. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nurture_ops.alerting.remediation import BATCHED
from nurture_ops.core.catalog import REMEDIATIONS
from nurture_ops.core.text import escape, fmt

APPROVE, REJECT = "Approve", "Reject"


@dataclass(frozen=True)
class ApprovalRequest:
    remediation_key: str
    alert_key: str | None
    rows_counted: int
    max_rows: int
    reason: str
    requested_by: str | None

    @property
    def title(self) -> str:
        return REMEDIATIONS[self.remediation_key].title


def parse_request(params: dict[str, Any]) -> ApprovalRequest:
    """The run's params as a request; ValueError naming the param when one is missing or wrong."""
    key = params.get("remediation_key")
    if key not in BATCHED:
        raise ValueError(
            f"param remediation_key must be a fix that runs in capped batches ({', '.join(BATCHED)}), got {key!r}"
        )
    numbers = {}
    for name in ("rows_counted", "max_rows"):
        value = params.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"param {name} must be a positive integer, got {value!r}")
        numbers[name] = value
    return ApprovalRequest(
        remediation_key=key,
        alert_key=params.get("alert_key"),
        rows_counted=numbers["rows_counted"],
        max_rows=numbers["max_rows"],
        reason=str(params.get("reason") or ""),
        requested_by=params.get("requested_by"),
    )


def decision(answer: dict | None) -> dict[str, Any]:
    """What the approval task's result says: {approved, by, how}. No result (the task failed or
    was skipped) is no approval."""
    if not answer:
        return {"approved": False, "by": None, "how": "no answer was recorded"}
    chosen = (answer.get("chosen_options") or [None])[0]
    user = answer.get("responded_by_user") or {}
    by = user.get("name") or user.get("id")
    if chosen == APPROVE:
        return {"approved": True, "by": by or "unknown", "how": f"approved by {by or 'unknown'}"}
    if by:
        return {"approved": False, "by": by, "how": f"rejected by {by}"}
    return {"approved": False, "by": None, "how": "nobody answered in time: rejected by default"}


def outcome_lines(request: ApprovalRequest, answer: dict, applied: dict | None) -> tuple[str, list[str]]:
    """(summary, mrkdwn sections) of the Slack report of one approval run (data escaped)."""
    head = (
        f"{escape(request.title)}: {fmt(request.rows_counted)} rows over the cap of {fmt(request.max_rows)} "
        f"({escape(request.alert_key or 'no alert')}), {escape(answer['how'])}"
    )
    lines = [head]
    if applied:
        lines.append(
            f"Applied in {applied['batches']} batch(es) of at most {fmt(request.max_rows)} rows: "
            f"{fmt(applied['rows_changed'])} rows changed; stopped: {escape(applied['stopped'])}"
        )
        lines += [
            f"• batch {i}: {escape(r['outcome'])}, {fmt(r['rows_changed'])} changed"
            + (f"; {escape(r['recheck'])}" if r.get("recheck") else "")
            for i, r in enumerate(applied["results"], 1)
        ]
    elif answer["approved"]:
        lines.append("Approved, but the batches did not run: see the apply task's log")
    else:
        lines.append("Nothing was changed.")
    summary = f"{request.title}: {answer['how']}" + (
        f", {applied['rows_changed']:,} rows changed" if applied else ""
    )
    return summary, ["\n".join(lines)]
