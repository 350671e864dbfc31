"""nurture_quarterly_audit: capacity and scaling needs, schema and recovery readiness."""

from nurture_ops.quarterly_audit.docs import doc_md as doc_md
from nurture_ops.quarterly_audit.tasks import (
    audit_summary,
    capacity_review,
    recovery_readiness,
    schema_readiness,
)

__all__ = ["audit_summary", "capacity_review", "recovery_readiness", "schema_readiness"]
