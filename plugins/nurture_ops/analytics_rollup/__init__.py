"""nurture_analytics_rollup: campaign_analytics per day, and manual backfills. The rollup itself
is `core.analytics` (the daily health check's gap filler uses it too)."""

from nurture_ops.analytics_rollup.docs import doc_md as doc_md
from nurture_ops.analytics_rollup.tasks import plan_days, rollup_campaign_analytics

__all__ = ["plan_days", "rollup_campaign_analytics"]
