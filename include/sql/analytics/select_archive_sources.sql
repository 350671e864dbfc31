-- Which archive tables the rollup must read besides the live ones (a fresh database has none:
-- the annual archive creates them on its first run). Read-only; one row:
--   sends_archive           email_sends_archive exists
--   events_archive          email_events_archive exists
--   sends_archive_indexed   email_sends_archive has a valid index led by actual_send_time, so the
--                           rollup of one day is a window scan of it, not a scan of the whole archive
--                           (analytics/create_archive_send_time_index.sql creates one)
SELECT
    TO_REGCLASS('email_sends_archive') IS NOT NULL AS sends_archive,
    TO_REGCLASS('email_events_archive') IS NOT NULL AS events_archive,
    EXISTS(
        SELECT 1
        FROM pg_catalog.pg_index AS i
        INNER JOIN pg_catalog.pg_attribute AS a
            ON i.indrelid = a.attrelid AND a.attnum = i.indkey[0]
        WHERE
            i.indrelid = TO_REGCLASS('email_sends_archive')
            AND i.indisvalid
            AND a.attname = 'actual_send_time'
    ) AS sends_archive_indexed
