"""Checks also evaluated per organization, as data, and the evaluation of one organization. Pure.

One organization whose emails all fail, bounce or unsubscribe disappears inside the global rate of
the others. These checks therefore also run a second query in the same measure (one GROUP BY
organization_id for all organizations, never one query per organization): one row per
organization with sends in the check's window. Each organization then has its own alert state
(scope = its id), dedup, reminders, resolve and silences; an organization with fewer than
`min_volume` sends in the window (20 in 5 minutes, 100 in a day) is "no data" (neither fires nor
resolves), so 1 failure of 2 sends pages nobody. Thresholds and the minimum volume can be overridden in the Variable
nurture_ops_thresholds (core.settings):

    {"high_email_failure_rate": {"per_organization": {"min_volume": 50,
        "organizations": {"<organization id>": {"failure_rate": {"alert": 30}}}}}}

The Slack messages of the organizations of one check are grouped per run (alerting.organizations),
and held back while the global alert of the same check fires.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from nurture_ops.core.catalog import Check, Threshold
from nurture_ops.core.evaluate import Finding, evaluate, render_summary
from nurture_ops.core.text import plain


@dataclass(frozen=True)
class PerOrganization:
    """How a check is evaluated per organization.

    `sql`: one row per organization (organization_id, organization_name, the check's threshold
    metrics and `volume_metric`); `summary`: the line of one organization in a grouped message."""

    check_key: str
    sql: str
    volume_metric: str
    summary: str
    min_volume: int = 20


PER_ORGANIZATION: dict[str, PerOrganization] = {
    spec.check_key: spec
    for spec in (
        PerOrganization(
            "high_email_failure_rate",
            "checks/alerts_5min/measure_email_failure_rate_by_organization.sql",
            volume_metric="total",
            summary="{failure_rate}% of {total} emails failed in the last 5 minutes",
        ),
        PerOrganization(
            "high_bounce_rate",
            "checks/daily/measure_bounce_rate_by_organization.sql",
            volume_metric="total",
            summary="{bounce_rate}% of {total} emails bounced yesterday ({hard_bounces} hard)",
            min_volume=100,  # a day's sends: 1 bounce of 20 would be 5 %
        ),
        PerOrganization(
            "high_unsubscribe_rate",
            "checks/daily/measure_unsubscribe_rate_by_organization.sql",
            volume_metric="emails_sent",
            summary="{unsubscribe_rate}% of {emails_sent} emails sent yesterday ({unsubscribes} unsubscribes)",
            min_volume=100,  # against a 1 % threshold: at least 2 unsubscribes to fire
        ),
    )
}


def spec_for(check_key: str) -> PerOrganization | None:
    return PER_ORGANIZATION.get(check_key)


@dataclass(frozen=True)
class OrganizationSettings:
    """A check's per-organization settings once nurture_ops_thresholds is applied."""

    min_volume: int
    # organization id -> {metric: Threshold}: the levels overridden for that organization
    thresholds: dict[str, dict[str, Threshold]]

    def check_for(self, check: Check, organization_id: str) -> Check:
        """The check with the organization's own levels (the others as the check has them)."""
        own = self.thresholds.get(organization_id)
        if not own:
            return check
        return replace(check, thresholds=tuple(own.get(t.metric, t) for t in check.thresholds))


def default_settings(spec: PerOrganization) -> OrganizationSettings:
    return OrganizationSettings(min_volume=spec.min_volume, thresholds={})


def evaluate_organization(
    check: Check, spec: PerOrganization, row: dict[str, Any], settings: OrganizationSettings
) -> Finding:
    """One organization's row -> its finding, scope = the organization id. Below the minimum
    volume it is "no data": its alert state is kept as it was (it neither fires nor resolves)."""
    row = plain(dict(row))
    organization_id = str(row.pop("organization_id"))
    name = str(row.pop("organization_name", None) or organization_id)
    own = replace(check, summary=f"{name}: {spec.summary}")
    own = settings.check_for(own, organization_id)
    volume = row.get(spec.volume_metric) or 0
    if volume < settings.min_volume:
        summary = render_summary(own.summary, row)
        return Finding(
            check.key,
            check.title,
            "no_data",
            f"{summary} (below the minimum of {settings.min_volume})",
            {**row, "organization_name": name},
            scope=organization_id,
        )
    finding = evaluate(own, row, scope=organization_id)
    return replace(finding, metrics={**finding.metrics, "organization_name": name})
