"""The doc_md of nurture_quarterly_audit: the quarterly checklist, the capacity limits and how a
limit's status is judged (capacity.py), the scaling steps (catalog), and recovery readiness."""

from __future__ import annotations

from nurture_ops.core.catalog import SCALING_GUIDELINES
from nurture_ops.core.docs import (
    bullets,
    checklist,
    code,
    compose,
    md_table,
    scaling_steps,
    section,
    value_text,
)
from nurture_ops.core.settings import BACKUP_SUBDIR, BACKUP_URL_VARIABLE
from nurture_ops.integrations.n8n import N8N_CONN_ID
from nurture_ops.integrations.workflow_backups import EXPORT_MAX_AGE_DAYS
from nurture_ops.quarterly_audit.capacity import (
    ACT_PERCENT,
    ACT_WITHIN_DAYS,
    CAPACITY_LIMITS,
    PLAN_WITHIN_DAYS,
)
from nurture_ops.quarterly_audit.report import CAPACITY_NAMES, STATUS_WORDS

# Runbook 7 "Quarterly": what this DAG does (and with which tasks), then what is left by hand.
QUARTERLY_CHECKLIST = (
    ("Full system performance audit / Review capacity and scaling needs", "`capacity_review`"),
    ("Test disaster recovery procedures (readiness)", "`schema_readiness`, `recovery_readiness`"),
)
QUARTERLY_CHECKLIST_BY_HAND = (
    "Update dependencies (N8n, libraries)",
    "Review and optimize campaign strategy",
)


def attention_section() -> str:
    return section(
        "When the message says ATTENTION",
        "Its text starts with **ATTENTION** when something needs action before the next audit:",
        bullets(
            [
                "a table, column, index or constraint missing",
                f"a capacity limit at >= {value_text(ACT_PERCENT)}% or reached within "
                f"{value_text(ACT_WITHIN_DAYS)} days",
                f"no workflow export in the last {value_text(EXPORT_MAX_AGE_DAYS)} days",
                "a part that could not be reviewed",
            ]
        ),
    )


def capacity_section() -> str:
    rows = [
        (
            CAPACITY_NAMES.get(key, key),
            spec["runbook"],
            value_text(spec["limit"]),
            ", ".join(SCALING_GUIDELINES[s]["section"] for s in spec["scaling"]),
        )
        for key, spec in CAPACITY_LIMITS.items()
    ]
    statuses = bullets(
        [
            f"**{STATUS_WORDS['over_limit']}**: the limit is reached",
            f"**{STATUS_WORDS['act']}**: at >= {value_text(ACT_PERCENT)}% of the limit, or reached within "
            f"{value_text(ACT_WITHIN_DAYS)} days at the quarter's growth (before the next audit)",
            f"**{STATUS_WORDS['plan']}**: reached within {value_text(PLAN_WITHIN_DAYS)} days",
            f"**{STATUS_WORDS['ok']}**: otherwise",
        ]
    )
    return section(
        'Capacity (runbook 5 "Current Capacity")',
        "For each limit: current level, percent of the limit, growth from the quarter's first week to "
        "its last, projected date the limit is reached at that rate, and the scaling that applies "
        "(named in the message only when the status is not ok):",
        md_table(("Limit", "Runbook", "Up to", "Scaling when near it"), rows),
        statuses,
    )


def scaling_section() -> str:
    return section('Scaling (runbook 5 "When to Scale")', scaling_steps())


def recovery_section() -> str:
    default = "file://$AIRFLOW_HOME/" + "/".join(BACKUP_SUBDIR)
    return section(
        "Disaster recovery readiness (runbook 6)",
        bullets(
            [
                '*Restore Database*: "Verify all tables present", "Run schema validation queries": '
                "`schema_readiness` compares every table, column, index and constraint of "
                "`include/sql/schema/*.sql` with the database. Recreate what is missing from those files.",
                '*Restore N8n*: "Import workflow definitions": `recovery_readiness` checks the last '
                f"complete export under the Variable {code(BACKUP_URL_VARIABLE)} (default `{default}`) is "
                f"at most {value_text(EXPORT_MAX_AGE_DAYS)} days old; if not, look at "
                f"`nurture_weekly_review.export_workflow_definitions` and the {code(N8N_CONN_ID)} connection.",
            ]
        ),
    )


def doc_md(intro: str | None) -> str:
    return compose(
        intro,
        attention_section(),
        section(
            "Quarterly checklist (runbook 7)", checklist(QUARTERLY_CHECKLIST, QUARTERLY_CHECKLIST_BY_HAND)
        ),
        capacity_section(),
        scaling_section(),
        recovery_section(),
    )
