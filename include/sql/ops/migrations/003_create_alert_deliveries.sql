-- Migration 003: deliveries other than Slack's, tracked apart from it (nurture_ops.alerting.state,
-- "Pages and escalations"): PagerDuty events (channel 'pagerduty': the incident triggered or
-- resolved under its dedup_key) and escalations to the slack_escalation connection (channel
-- 'escalation': once per firing). One row per alert state (alert_key, scope) and channel, with the
-- same intent to send as alert_state's (sending_*), on its own columns: PagerDuty failing never
-- blocks or duplicates Slack, nor the other way round. Idempotent.
CREATE TABLE IF NOT EXISTS {{ schema }}.alert_deliveries (
    alert_key text NOT NULL,
    scope text NOT NULL DEFAULT '',
    channel text NOT NULL CHECK (channel IN ('pagerduty', 'escalation')),
    -- What the channel last accepted: pagerduty 'triggered' or 'resolved'; escalation 'escalated'.
    delivered_state text,
    -- The alert's first_fired_at when it was delivered: the firing it belongs to.
    episode timestamptz,
    dedup_key text,
    delivered_at timestamptz,
    deliveries_sent integer NOT NULL DEFAULT 0,
    sending_token uuid,
    sending_since timestamptz,
    sending_kind text,
    sending_run text,
    PRIMARY KEY (alert_key, scope, channel)
);
