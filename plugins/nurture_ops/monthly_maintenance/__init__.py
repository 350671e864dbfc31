"""nurture_monthly_maintenance: online reindex and analyze, invalid indexes, cleanup of completed
enrollments, workflow error trends, silenced alerts around it all."""

from nurture_ops.monthly_maintenance.docs import doc_md as doc_md
from nurture_ops.monthly_maintenance.tasks import (
    analyze_tables,
    cleanup_completed_enrollments,
    invalid_indexes,
    lift_silences,
    monthly_summary,
    reindex_tables,
    review_slow_workflows,
    silence_alerts,
)

__all__ = [
    "analyze_tables",
    "cleanup_completed_enrollments",
    "invalid_indexes",
    "lift_silences",
    "monthly_summary",
    "reindex_tables",
    "review_slow_workflows",
    "silence_alerts",
]
