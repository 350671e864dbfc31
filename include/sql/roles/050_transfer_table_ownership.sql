-- Ownership for the monthly maintenance (see 010_create_roles.sql for how to apply). Idempotent.
--
-- What PostgreSQL 15 requires (16 too):
--   REINDEX TABLE [CONCURRENTLY] t   the owner of t (or a superuser)
--   ANALYZE t                        the owner of t, the database's owner, or a superuser
--   DROP INDEX CONCURRENTLY i        the owner of i's table (the invalid _ccnew/_ccold leftovers)
--   CREATE INDEX IF NOT EXISTS       the owner of the table, even when the index exists (the
--                                    archive's create_archive_tables.sql)
-- No GRANT gives these on 15: the MAINTAIN privilege and the pg_maintain role (REINDEX, ANALYZE,
-- VACUUM, CLUSTER, REFRESH, LOCK) arrived in PostgreSQL 17, and even there DROP INDEX and CREATE
-- INDEX stay the owner's. "The owner" is every role with the owning role's privileges, i.e. its
-- members (with INHERIT). So this file gives the runbook's tables and the archive tables to the
-- NOLOGIN role nurture_ops_table_owner and makes nurture_ops_maintainer a member: the
-- leads_db_maintenance login then REINDEXes and ANALYZEs them. Without this file those tasks
-- report the table "skipped: not owner"; everything else works.
--
-- The price: an owner holds every privilege on its tables (ALTER, DROP, TRUNCATE), and so do the
-- maintainer's logins. Keep them few; on 17+ GRANT MAINTAIN ON TABLE ... TO nurture_ops_maintainer
-- would cover REINDEX and ANALYZE without this file.
--
-- The previous owner (typically the role N8n's workflows connect as) has the owner's rights
-- through ownership only, and would lose them: every previous owner that is neither a superuser
-- nor already a member is made a member of nurture_ops_table_owner, so it keeps what it had.
-- Run it as a superuser (or as the tables' owner, once a member of nurture_ops_table_owner, which
-- then needs CREATE on the schema: granted below).
--
-- ALTER TABLE ... OWNER takes an ACCESS EXCLUSIVE lock for an instant; behind a long transaction
-- it would queue every other statement on the table. It waits at most lock_timeout (below): on
-- "canceling statement due to lock timeout" (or a deadlock with a workflow) nothing changed:
-- apply the files again, at a quieter time. A table that already belongs to
-- nurture_ops_table_owner is not locked at all, so applying the files again later is cheap.
SET lock_timeout = '10s';

GRANT USAGE, CREATE ON SCHEMA public TO nurture_ops_table_owner;

DO $$
DECLARE
    owned_table text;
    previous_owner name;
    previous_is_super boolean;
BEGIN
    FOREACH owned_table IN ARRAY ARRAY[
        'organizations',
        'nurture_campaigns',
        'leads',
        'lead_preferences',
        'lead_campaign_enrollments',
        'email_sends',
        'email_events',
        'campaign_analytics',
        'workflow_executions',
        'workflow_errors',
        'email_sends_archive',
        'email_events_archive',
        'lead_campaign_enrollments_archive'
    ] LOOP
        CONTINUE WHEN to_regclass(owned_table) IS NULL;  -- e.g. archive tables not created yet
        SELECT r.rolname, r.rolsuper INTO previous_owner, previous_is_super
        FROM pg_catalog.pg_class AS c
        INNER JOIN pg_catalog.pg_roles AS r ON c.relowner = r.oid
        WHERE c.oid = to_regclass(owned_table);
        CONTINUE WHEN previous_owner = 'nurture_ops_table_owner';
        IF NOT previous_is_super
            AND NOT pg_has_role(previous_owner, 'nurture_ops_table_owner', 'MEMBER')
            AND NOT pg_has_role('nurture_ops_table_owner', previous_owner, 'MEMBER') THEN
            EXECUTE format('GRANT nurture_ops_table_owner TO %I', previous_owner);
        END IF;
        -- Also moves the table's indexes and its identity sequence.
        EXECUTE format('ALTER TABLE %I OWNER TO nurture_ops_table_owner', owned_table);
    END LOOP;
END
$$;

GRANT nurture_ops_table_owner TO nurture_ops_maintainer;

RESET lock_timeout;
