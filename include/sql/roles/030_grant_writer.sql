-- nurture_ops_writer (see 010_create_roles.sql for how to apply): the `leads_db` connection. Reads
-- what the reader reads (member of nurture_ops_reader), and writes only: the analytics rollup, the
-- remediations' columns, and the package's own nurture_ops schema. Idempotent.

-- CREATE on the database: the migrations (nurture_ops.alerting.state.ensure_schema) start with
-- CREATE SCHEMA IF NOT EXISTS nurture_ops, which PostgreSQL checks against this privilege even
-- when the schema exists.
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT, CREATE ON DATABASE %I TO nurture_ops_writer', current_database());
END
$$;

-- The rollup (include/sql/analytics/upsert_campaign_analytics.sql): INSERT ... ON CONFLICT DO
-- UPDATE, and the DELETE of a day's rows for campaigns that no longer have sends.
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE campaign_analytics TO nurture_ops_writer;

-- The bounce remediation (include/sql/remediation): leads.metadata.email_invalid, and the lead's
-- open enrollments completed. Column privileges: nothing else of these tables can change (a
-- human's reset_lead_email.sql also sets leads.email: run it as the application's role). The
-- UPDATE privilege also covers the remediation's SELECT ... FOR UPDATE / FOR SHARE row locks.
GRANT UPDATE (metadata, updated_at) ON TABLE leads TO nurture_ops_writer;
GRANT UPDATE (status, completion_reason, completed_at, updated_at)
ON TABLE lead_campaign_enrollments TO nurture_ops_writer;

-- The rollup and the gap finder read the archive tables when they exist (core.analytics); a table
-- created after this file ran needs the file applied again, else the rollup fails with "permission
-- denied for table email_sends_archive".
DO $$
DECLARE
    archive_table text;
BEGIN
    FOREACH archive_table IN ARRAY ARRAY['email_sends_archive', 'email_events_archive'] LOOP
        IF to_regclass(archive_table) IS NOT NULL THEN
            EXECUTE format('GRANT SELECT ON TABLE %I TO nurture_ops_writer', archive_table);
        END IF;
    END LOOP;
END
$$;

-- The package's own schema (alert state, silences, notifications, remediation audit, migrations),
-- owned by the writer group: its logins create, alter and write its tables (a migration may ALTER
-- a table, which only its owner can). Created here when missing; an existing schema and its tables
-- (e.g. created by an earlier leads_db login) pass to the group. A previous owner that is neither
-- a superuser nor already a member becomes a member, so it keeps what it had. A table that already
-- belongs to the group is left alone (ALTER ... OWNER takes an exclusive lock even when it changes
-- nothing).
CREATE SCHEMA IF NOT EXISTS nurture_ops AUTHORIZATION nurture_ops_writer;

DO $$
DECLARE
    object record;
BEGIN
    FOR object IN
        SELECT 'SCHEMA' AS kind, format('%I', n.nspname) AS name, r.rolname AS owner, r.rolsuper AS super
        FROM pg_catalog.pg_namespace AS n
        INNER JOIN pg_catalog.pg_roles AS r ON n.nspowner = r.oid
        WHERE n.nspname = 'nurture_ops'
        UNION ALL
        SELECT 'TABLE', format('%I.%I', n.nspname, c.relname), r.rolname, r.rolsuper
        FROM pg_catalog.pg_class AS c
        INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
        INNER JOIN pg_catalog.pg_roles AS r ON c.relowner = r.oid
        WHERE n.nspname = 'nurture_ops' AND c.relkind IN ('r', 'p')
    LOOP
        CONTINUE WHEN object.owner = 'nurture_ops_writer';
        IF NOT object.super
            AND NOT pg_has_role(object.owner, 'nurture_ops_writer', 'MEMBER')
            AND NOT pg_has_role('nurture_ops_writer', object.owner, 'MEMBER') THEN
            EXECUTE format('GRANT nurture_ops_writer TO %I', object.owner);
        END IF;
        EXECUTE format('ALTER %s %s OWNER TO nurture_ops_writer', object.kind, object.name);
    END LOOP;
END
$$;


-- The Lead Nurture page of the Airflow UI (nurture_ops.ops_page) reads the package's own tables
-- (alert state, silences, operator actions, remediation audit) through leads_db_readonly: the reader
-- group may read them. Tables a later migration adds get it from that migration (004 grants
-- nurture_ops_reader) or when this file is applied again.
GRANT USAGE ON SCHEMA nurture_ops TO nurture_ops_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA nurture_ops TO nurture_ops_reader;
