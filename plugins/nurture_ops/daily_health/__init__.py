"""nurture_daily_health: the morning health check's digest (its checks are catalog check groups)."""

from nurture_ops.daily_health.docs import sections as doc_sections
from nurture_ops.daily_health.tasks import daily_digest_task

__all__ = ["daily_digest_task", "doc_sections"]
