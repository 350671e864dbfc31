-- nurture_ops_maintainer (see 010_create_roles.sql for how to apply): the `leads_db_maintenance`
-- connection. Reads what the reader reads (member of nurture_ops_reader: the archive's counts, the
-- rebuild's blocker report from pg_stat_activity with pg_read_all_stats), plus the annual archive's
-- and the monthly cleanup's moves. REINDEX and ANALYZE need table ownership: 050. Idempotent.
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO nurture_ops_maintainer', current_database());
END
$$;

-- The archive tables (include/sql/archive/create_archive_tables.sql) are created by the first
-- archive run when missing; CREATE TABLE IF NOT EXISTS checks CREATE on the schema even when they
-- exist. (Its CREATE INDEX IF NOT EXISTS checks ownership of the archive table: 050.)
GRANT USAGE, CREATE ON SCHEMA public TO nurture_ops_maintainer;

-- Moving rows out: DELETE ... RETURNING from the live tables (the archive, the cleanup).
GRANT DELETE ON TABLE email_sends, email_events, lead_campaign_enrollments TO nurture_ops_maintainer;

-- The batches are picked with SELECT ... FOR UPDATE SKIP LOCKED, which needs the UPDATE privilege
-- on at least one column of the table: updated_at, which no move changes.
GRANT UPDATE (updated_at) ON TABLE email_sends, lead_campaign_enrollments TO nurture_ops_maintainer;

-- The archive tables, when they exist (created by another role, e.g. by hand before this file).
DO $$
DECLARE
    archive_table text;
BEGIN
    FOREACH archive_table IN ARRAY ARRAY[
        'email_sends_archive', 'email_events_archive', 'lead_campaign_enrollments_archive'
    ] LOOP
        IF to_regclass(archive_table) IS NOT NULL THEN
            EXECUTE format('GRANT SELECT, INSERT, DELETE ON TABLE %I TO nurture_ops_maintainer', archive_table);
        END IF;
    END LOOP;
END
$$;
