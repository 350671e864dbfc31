-- Archive tables of the annual "Archive old data (> 1 year)" and the monthly "Clean up completed
-- enrollments > 90 days". Idempotent; run in one transaction.
--
-- Each archive table has the live table's columns in the live order, then archived_at and
-- archive_run_id, so `INSERT INTO <archive> SELECT moved.*, <archived_at>, <run_id> FROM moved`
-- lines up. LIKE without INCLUDING IDENTITY copies names, types and NOT NULL only: the archived
-- id is a plain bigint (the live id is kept, never regenerated), with no defaults, no CHECKs and
-- no foreign keys. The primary key on id means a row can be archived once only.
-- The code verifies the column order against the live table before every move.
--
-- Two runs creating the tables at once: CREATE TABLE IF NOT EXISTS alone can still fail on a
-- concurrent create (duplicate pg_type row), so the creating transaction holds an advisory lock.
SELECT PG_ADVISORY_XACT_LOCK(7956045201853710389);

CREATE TABLE IF NOT EXISTS email_sends_archive (
    LIKE email_sends,
    archived_at timestamptz NOT NULL,
    archive_run_id text,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS email_sends_archive_created_at_idx
ON email_sends_archive (created_at);
-- The analytics rollup reads archived sends of a day by actual_send_time (core/analytics.py).
CREATE INDEX IF NOT EXISTS email_sends_archive_actual_send_time_idx
ON email_sends_archive (actual_send_time);

CREATE TABLE IF NOT EXISTS email_events_archive (
    LIKE email_events,
    archived_at timestamptz NOT NULL,
    archive_run_id text,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS email_events_archive_event_timestamp_idx
ON email_events_archive (event_timestamp);
CREATE INDEX IF NOT EXISTS email_events_archive_email_send_id_idx
ON email_events_archive (email_send_id);

CREATE TABLE IF NOT EXISTS lead_campaign_enrollments_archive (
    LIKE lead_campaign_enrollments,
    archived_at timestamptz NOT NULL,
    archive_run_id text,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS lead_campaign_enrollments_archive_completed_at_idx
ON lead_campaign_enrollments_archive (completed_at);

-- The writer role (include/sql/roles/) reads the archive for the analytics rollup: the creator of
-- the tables owns them and so may grant it, so the first archive run does not break the rollup.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{{ writer_role }}') THEN
        GRANT SELECT ON email_sends_archive, email_events_archive TO {{ writer_role }};
    END IF;
END
$$;
