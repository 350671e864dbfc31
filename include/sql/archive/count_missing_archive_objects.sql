-- How many of the archive tables and their indexes (archive/create_archive_tables.sql) are
-- missing. Zero: nothing to create, so ensure_archive_tables runs no DDL at all (CREATE INDEX IF
-- NOT EXISTS needs table ownership even when the index exists, which a maintainer role that
-- is not the owner lacks).
SELECT
    (
        SELECT COUNT(*)
        FROM
            UNNEST(ARRAY[
                'email_sends_archive',
                'email_sends_archive_created_at_idx',
                'email_sends_archive_actual_send_time_idx',
                'email_events_archive',
                'email_events_archive_event_timestamp_idx',
                'email_events_archive_email_send_id_idx',
                'lead_campaign_enrollments_archive',
                'lead_campaign_enrollments_archive_completed_at_idx'
            ]) AS wanted (relation_name)
        WHERE TO_REGCLASS(wanted.relation_name) IS NULL
    ) AS missing_objects
