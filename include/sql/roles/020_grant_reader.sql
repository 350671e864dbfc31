-- nurture_ops_reader (see 010_create_roles.sql for how to apply): read-only, for every check and
-- report: the catalog's measure SQL (include/sql/checks), the daily digest, the weekly review, the
-- quarterly audit, the monthly workflow review and the index inventory. Idempotent.
-- The tables are where include/sql/schema creates them (unqualified: the first schema of the
-- search_path, normally public), and so are these grants.
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO nurture_ops_reader', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO nurture_ops_reader;

-- The runbook's tables (weekly_review.logic.RUNBOOK_TABLES).
GRANT SELECT ON TABLE
organizations,
nurture_campaigns,
leads,
lead_preferences,
lead_campaign_enrollments,
email_sends,
email_events,
campaign_analytics,
workflow_executions,
workflow_errors
TO nurture_ops_reader;

-- pg_stat_statements created in a schema of its own (Supabase: extensions) needs USAGE on it; its
-- view is readable by PUBLIC, and pg_read_all_stats (010) shows every role's statements.
-- shared_preload_libraries is not readable without pg_read_all_settings; the review then lets the
-- query decide (GRANT pg_read_all_settings TO nurture_ops_reader for the precise reason).
DO $$
DECLARE
    extension_schema text;
BEGIN
    SELECT n.nspname INTO extension_schema
    FROM pg_catalog.pg_extension AS e
    INNER JOIN pg_catalog.pg_namespace AS n ON e.extnamespace = n.oid
    WHERE e.extname = 'pg_stat_statements';
    IF extension_schema IS NOT NULL THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO nurture_ops_reader', extension_schema);
    END IF;
END
$$;
