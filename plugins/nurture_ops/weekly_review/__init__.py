"""nurture_weekly_review: query, scheduler and sender performance, unsubscribe feedback, and the
N8n workflow export."""

from nurture_ops.weekly_review.docs import doc_md as doc_md
from nurture_ops.weekly_review.tasks import (
    export_workflow_definitions,
    query_performance,
    scheduler_performance,
    sender_performance,
    sendgrid_deliverability,
    unsubscribe_feedback,
    weekly_summary,
)

__all__ = [
    "export_workflow_definitions",
    "query_performance",
    "scheduler_performance",
    "sender_performance",
    "sendgrid_deliverability",
    "unsubscribe_feedback",
    "weekly_summary",
]
