-- Window indexes (issue 14): every check priced by its window, at a year of data.
-- Safe on a live database: each index is built or dropped without blocking writes (CONCURRENTLY)
-- and each statement is a no-op once done, so the file can be applied again after a failure. Apply with
--     psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f include/sql/schema/030_add_window_indexes.sql
-- (psql sends each statement on its own: CONCURRENTLY cannot run inside a transaction). A build
-- that fails leaves an INVALID index, which IF NOT EXISTS then skips: the monthly maintenance DAG
-- reports it (and drops it when asked); then apply the file again. See README "Window indexes".
--
-- The covering indexes carry the columns the window's statements read, so those statements are
-- index-only scans (no visit to the 6 GB heap of email_sends at a year) where VACUUM has marked the
-- pages all-visible (see the autovacuum settings below).
-- The cost is on writes: with opened_at, first_click_at, updated_at, failure_reason, campaign_id
-- and organization_id now in some index, no update of an email_sends row is HOT any more, so each
-- update (status, open, click: ~3 a send) adds an entry to each of its 13 indexes (8 before):
-- at 100,000 sends a day ~4 M index entries a day, ~45 a second, next to the inserts' 1.3 M.

-- Sends of a window on actual_send_time: daily bounce, unsubscribe and KPI rates, per
-- organization; weekly send rate, unsubscribe feedback and deliverability; quarterly capacity.
CREATE INDEX CONCURRENTLY IF NOT EXISTS email_sends_send_time_covering_idx
ON email_sends (actual_send_time)
INCLUDE (send_status, bounce_type, campaign_id, organization_id, scheduled_send_time, created_at);

-- The opened and the clicked sends of a window with what the KPIs count distinct (daily
-- checks/daily/measure_kpis.sql: unique opens and clicks per campaign and lead).
CREATE INDEX CONCURRENTLY IF NOT EXISTS email_sends_opened_send_time_idx
ON email_sends (actual_send_time)
INCLUDE (campaign_id, lead_id)
WHERE opened_at IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS email_sends_clicked_send_time_idx
ON email_sends (actual_send_time)
INCLUDE (campaign_id, lead_id)
WHERE first_click_at IS NOT NULL;

-- Sends of a window on created_at: 5-minute failure rate (per organization), daily volume.
CREATE INDEX CONCURRENTLY IF NOT EXISTS email_sends_created_covering_idx
ON email_sends (created_at)
INCLUDE (send_status, organization_id, actual_send_time, scheduled_send_time);

-- "Did campaign C send on day D?": one probe per (campaign, day) without analytics
-- (include/sql/macros/missing_analytics.sql).
CREATE INDEX CONCURRENTLY IF NOT EXISTS email_sends_campaign_send_time_idx
ON email_sends (campaign_id, actual_send_time);

-- Emails that failed without reaching SendGrid (no actual_send_time): the weekly send rate counts
-- them processed at updated_at. A few per day.
CREATE INDEX CONCURRENTLY IF NOT EXISTS email_sends_unsent_processed_idx
ON email_sends (updated_at)
WHERE actual_send_time IS NULL AND send_status <> 'queued';

-- The queue: stuck emails per organization (15-minute check), the weekly send rate's emails
-- still waiting; and the day's failure reasons (15-minute check). Index-only.
CREATE INDEX CONCURRENTLY IF NOT EXISTS email_sends_queued_covering_idx
ON email_sends (scheduled_send_time)
INCLUDE (organization_id, created_at, actual_send_time)
WHERE send_status = 'queued';
CREATE INDEX CONCURRENTLY IF NOT EXISTS email_sends_failed_created_covering_idx
ON email_sends (created_at)
INCLUDE (failure_reason)
WHERE send_status = 'failed';

-- Hard bounces by lead, with the times the bounce rule compares with the lead's last reset
-- (include/sql/macros/hard_bounce.sql: the daily bounce check and fix): index-only, instead of
-- a heap visit per hard bounce ever recorded (160,000 at a year).
CREATE INDEX CONCURRENTLY IF NOT EXISTS email_sends_hard_bounce_lead_covering_idx
ON email_sends (lead_id)
INCLUDE (id, actual_send_time, created_at)
WHERE bounce_type = 'hard';

-- Repeat bouncers of the day (checks/daily/measure_bounce_rate.sql): the day's bounced sends,
-- then each of their leads' bounces, both index-only.
CREATE INDEX CONCURRENTLY IF NOT EXISTS email_sends_bounced_send_time_idx
ON email_sends (actual_send_time)
INCLUDE (lead_id)
WHERE send_status = 'bounced';
CREATE INDEX CONCURRENTLY IF NOT EXISTS email_sends_bounced_lead_covering_idx
ON email_sends (lead_id)
INCLUDE (bounce_type, actual_send_time)
WHERE send_status = 'bounced';

-- Active enrollments by next_send_at (the scheduler's due scan, the overdue check) with what the
-- daily active count reads: its 100,000 entries index-only where the pages are all-visible
-- (enrollments change at every step, so part of it still visits the heap: a third in the bench).
-- next_send_at changes at every step, so these updates were never HOT: no extra write.
CREATE INDEX CONCURRENTLY IF NOT EXISTS lead_campaign_enrollments_active_covering_idx
ON lead_campaign_enrollments (next_send_at)
INCLUDE (organization_id)
WHERE status = 'active';

-- Leads missing personalization data (name or email empty): a handful, found without reading
-- every lead (checks/daily/measure_missing_personalization.sql; same expression as its WHERE).
CREATE INDEX CONCURRENTLY IF NOT EXISTS leads_missing_personalization_idx
ON leads (id)
WHERE NULLIF(TRIM(name), '') IS NULL OR NULLIF(TRIM(email), '') IS NULL;

-- Enrollments by status (daily active count, quarterly capacity estimates).
CREATE INDEX CONCURRENTLY IF NOT EXISTS lead_campaign_enrollments_status_created_idx
ON lead_campaign_enrollments (status, created_at)
INCLUDE (completed_at, lead_id);

-- A month of workflow executions (monthly maintenance/review_workflow_errors.sql): 130,000 of the
-- 1.6 M a year holds, index-only, instead of a scan of the table the (workflow_name, created_at)
-- index cannot bound when every workflow is read.
CREATE INDEX CONCURRENTLY IF NOT EXISTS workflow_executions_created_covering_idx
ON workflow_executions (created_at)
INCLUDE (workflow_name, status, duration_ms);

-- Index-only scans skip the heap only for pages the visibility map marks all-visible, which
-- VACUUM does. With the default thresholds (20 % of the table inserted: ~70 days at a year) the
-- last days' pages, the ones every daily and weekly window reads, would stay unmarked; these
-- per-table settings have autovacuum visit the new pages about daily (it reads only pages not
-- yet all-visible, so the cost is a day's pages). Taken under a lock that does not block reads
-- or writes; the same values again are a no-op.
ALTER TABLE email_sends SET (
    autovacuum_vacuum_insert_threshold = 100000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_threshold = 100000,
    autovacuum_vacuum_scale_factor = 0
);
ALTER TABLE email_events SET (
    autovacuum_vacuum_insert_threshold = 150000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_threshold = 150000,
    autovacuum_vacuum_scale_factor = 0
);

ALTER TABLE lead_campaign_enrollments SET (
    autovacuum_vacuum_threshold = 20000,
    autovacuum_vacuum_scale_factor = 0
);

-- Superseded by the indexes above (same key and predicate, fewer columns): dropped so the planner
-- cannot pick them over the index-only scans. The guard first: dropped only once every index
-- above exists and is valid (a failed build leaves an INVALID one that IF NOT EXISTS skips; the
-- old one must stay until it is rebuilt). A cast error stops psql -v ON_ERROR_STOP=1 with the
-- message (from a column, so the planner cannot fold it); the list is the file's CREATE INDEX
-- names (tests/schema checks it).
WITH window_indexes AS (
    SELECT COUNT(*) AS valid
    FROM (
        VALUES
        ('email_sends_send_time_covering_idx'),
        ('email_sends_opened_send_time_idx'),
        ('email_sends_clicked_send_time_idx'),
        ('email_sends_created_covering_idx'),
        ('email_sends_campaign_send_time_idx'),
        ('email_sends_unsent_processed_idx'),
        ('email_sends_queued_covering_idx'),
        ('email_sends_failed_created_covering_idx'),
        ('email_sends_hard_bounce_lead_covering_idx'),
        ('email_sends_bounced_send_time_idx'),
        ('email_sends_bounced_lead_covering_idx'),
        ('lead_campaign_enrollments_active_covering_idx'),
        ('leads_missing_personalization_idx'),
        ('lead_campaign_enrollments_status_created_idx'),
        ('workflow_executions_created_covering_idx')
    ) AS wanted (index_name)
    INNER JOIN pg_index AS i ON TO_REGCLASS(wanted.index_name) = i.indexrelid
    WHERE i.indisvalid AND i.indisready
),

verdict AS (
    SELECT
        w.valid,
        '030 stopped before dropping anything: ' || w.valid || ' of 15 window indexes are valid '
        || '(one is missing or INVALID after a failed build). Drop the invalid one '
        || '(DROP INDEX CONCURRENTLY name) and apply the file again.' AS stop_message
    FROM window_indexes AS w
)

SELECT
    CASE
        WHEN v.valid = 15 THEN 'all 15 window indexes valid: dropping the superseded ones'
        ELSE CAST(CAST(v.stop_message AS integer) AS text)
    END AS window_indexes
FROM verdict AS v;
DROP INDEX CONCURRENTLY IF EXISTS email_sends_actual_send_time_idx;
DROP INDEX CONCURRENTLY IF EXISTS email_sends_created_at_idx;
DROP INDEX CONCURRENTLY IF EXISTS email_sends_hard_bounce_lead_idx;
DROP INDEX CONCURRENTLY IF EXISTS email_sends_bounced_lead_idx;
DROP INDEX CONCURRENTLY IF EXISTS lead_campaign_enrollments_active_next_send_idx;
DROP INDEX CONCURRENTLY IF EXISTS email_sends_queued_scheduled_idx;
DROP INDEX CONCURRENTLY IF EXISTS email_sends_failed_created_at_idx;
