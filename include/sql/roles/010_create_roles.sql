-- Least privilege: the group roles the package's connections log in through. An operator applies
-- include/sql/roles once; nothing in the package runs these files.
--
-- How to apply: as a superuser (on a managed service, the admin role that may create roles and
-- grant pg_read_all_stats), connected to the lead-nurture database, every file of this folder in
-- name order:
--
--     psql -v ON_ERROR_STOP=1 --single-transaction -d "$LEADS_DB_URL" \
--         -f include/sql/roles/010_create_roles.sql -f include/sql/roles/020_grant_reader.sql \
--         -f include/sql/roles/030_grant_writer.sql -f include/sql/roles/040_grant_maintainer.sql \
--         -f include/sql/roles/050_transfer_table_ownership.sql
--
-- Before them: the schema (include/sql/schema) and, recommended, the archive tables
-- (include/sql/archive/create_archive_tables.sql, which the annual archive would otherwise create on
-- its first run, owned by its login): the grants and owners below reach only tables that exist.
-- Every file is idempotent (roles created only when missing, GRANT and ALTER ... OWNER are no-ops
-- the second time): apply them again after the annual archive first creates its tables, or after a
-- nurture_ops migration, to bring the new tables under the same grants and owners. The second
-- time psql prints NOTICEs ("role ... is already a member of role ...", "schema ... already exists,
-- skipping"): expected. 050 changes table owners: apply it at a quiet time (see its header).
-- Roles are cluster-wide: 010 is needed once per cluster (again is harmless), 020-050 per database.
--
-- The files create NOLOGIN group roles only: no login, no password. The operator creates the login
-- roles (their names and passwords are the operator's), makes each a member of one group, and
-- points an Airflow connection at it:
--
--     CREATE ROLE nurture_reports LOGIN PASSWORD '...' IN ROLE nurture_ops_reader;
--     CREATE ROLE nurture_ops_app LOGIN PASSWORD '...' IN ROLE nurture_ops_writer;
--     CREATE ROLE nurture_maint LOGIN PASSWORD '...' IN ROLE nurture_ops_maintainer;
--
--     leads_db_readonly     a member of nurture_ops_reader      every check's measure and report
--     leads_db              a member of nurture_ops_writer      alert state, digest, analytics rollup,
--                                                               remediations, silences, migrations
--     leads_db_maintenance  a member of nurture_ops_maintainer  REINDEX, ANALYZE, archive, cleanup
--
-- leads_db_readonly and leads_db_maintenance are optional: a task whose connection is not defined
-- uses leads_db (nurture_ops.core.db.conn_id_for). Login roles must keep INHERIT (the default): the
-- privileges come through membership. Optionally, so that what the writer's migrations create
-- belongs to the group rather than to its login:
--     ALTER ROLE nurture_ops_app IN DATABASE <db> SET role = 'nurture_ops_writer';
--
-- The groups:
--   nurture_ops_reader       SELECT on the runbook's tables (020) and pg_read_all_stats (the weekly
--                            query review reads other roles' statements in pg_stat_statements).
--                            Nothing in nurture_ops: no check or report reads it.
--   nurture_ops_writer       the reader's rights, plus (030) the analytics upsert, the remediations'
--                            columns, SELECT on the archive tables, and the nurture_ops schema
--                            (its owner: the migrations create and alter its tables).
--   nurture_ops_maintainer   the reader's rights, plus (040) the archive's and cleanup's moves, and
--                            (050) membership in nurture_ops_table_owner for REINDEX and ANALYZE.
--   nurture_ops_table_owner  owns the runbook's and the archive tables (050): PostgreSQL 15 lets only
--                            a table's owner REINDEX or ANALYZE it.
DO $$
DECLARE
    group_role text;
BEGIN
    FOREACH group_role IN ARRAY ARRAY[
        'nurture_ops_reader', 'nurture_ops_writer', 'nurture_ops_maintainer', 'nurture_ops_table_owner'
    ] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = group_role) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN INHERIT', group_role);
        END IF;
    END LOOP;
END
$$;

-- The weekly query review: statement texts and statistics of every role, not only its own.
GRANT pg_read_all_stats TO nurture_ops_reader;

-- The writer and the maintainer read what the reader reads (the digest's queries, the archive's
-- counts, the rebuild's blocker report).
GRANT nurture_ops_reader TO nurture_ops_writer;
GRANT nurture_ops_reader TO nurture_ops_maintainer;
