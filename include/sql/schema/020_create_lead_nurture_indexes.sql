-- Indexes the runbook's questions need. Every time window in include/sql is a half-open range
-- on one of these raw timestamps, so each check is an index range scan.

-- Sends by enrollment. The windows on created_at and actual_send_time, the queue, the failures
-- and the bounce remediation by lead have covering indexes in 030_add_window_indexes.sql.
CREATE INDEX IF NOT EXISTS email_sends_enrollment_id_idx
ON email_sends (enrollment_id);

-- Events: per-send lookups, daily windows, deduplication.
CREATE INDEX IF NOT EXISTS email_events_send_type_idx
ON email_events (email_send_id, event_type);
CREATE INDEX IF NOT EXISTS email_events_event_timestamp_idx
ON email_events (event_timestamp);
CREATE INDEX IF NOT EXISTS email_events_created_at_idx
ON email_events (created_at);
CREATE INDEX IF NOT EXISTS email_events_event_hash_idx
ON email_events (event_hash);

-- Enrollments: by lead; cleanup of completed ones (the scheduler's due scan and the overdue check:
-- 030).
CREATE INDEX IF NOT EXISTS lead_campaign_enrollments_lead_id_idx
ON lead_campaign_enrollments (lead_id);
CREATE INDEX IF NOT EXISTS lead_campaign_enrollments_completed_at_idx
ON lead_campaign_enrollments (completed_at) WHERE status = 'completed';

CREATE INDEX IF NOT EXISTS leads_organization_id_idx
ON leads (organization_id);
CREATE INDEX IF NOT EXISTS nurture_campaigns_organization_id_idx
ON nurture_campaigns (organization_id);
CREATE INDEX IF NOT EXISTS campaign_analytics_analytics_date_idx
ON campaign_analytics (analytics_date);

-- Workflows: last execution per workflow, errors per day.
CREATE INDEX IF NOT EXISTS workflow_executions_name_created_at_idx
ON workflow_executions (workflow_name, created_at);
CREATE INDEX IF NOT EXISTS workflow_errors_created_at_idx
ON workflow_errors (created_at);

-- Unsubscribes of a window (KPIs, unsubscribe rate, analytics rollup, weekly feedback): a few
-- hundred rows a day instead of every event of the day.
CREATE INDEX IF NOT EXISTS email_events_unsubscribe_timestamp_idx
ON email_events (event_timestamp) WHERE event_type IN ('unsubscribe', 'group_unsubscribe');


-- Leads marked invalid (bounce remediation count and apply).
CREATE INDEX IF NOT EXISTS leads_email_invalid_idx
ON leads (id) WHERE metadata ->> 'email_invalid' = 'true';
