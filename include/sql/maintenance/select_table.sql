-- Resolve a table name as the search path would; no row when there is no such table.
-- With who may maintain it: REINDEX needs the table's owner (or a member of the owning role that
-- inherits its privileges, or a superuser), and so does ANALYZE (PostgreSQL 15 also lets the
-- database owner analyze). acts_as_owner says whether the current role is such a role; the
-- *_ident columns are quoted for the GRANT the report suggests. sees_all_sessions: the role sees
-- every session's transaction (pg_read_all_stats), which the check for long transactions needs.
SELECT
    c.oid::bigint AS table_oid,
    n.nspname AS schema_name,
    c.relname AS table_name,
    QUOTE_IDENT(n.nspname) || '.' || QUOTE_IDENT(c.relname) AS qualified_ident,
    o.rolname AS owner_name,
    o.rolsuper AS owner_is_superuser,
    QUOTE_IDENT(o.rolname) AS owner_ident,
    QUOTE_IDENT(CURRENT_USER) AS role_ident,
    CURRENT_USER AS role_name,
    PG_HAS_ROLE(c.relowner, 'USAGE') AS acts_as_owner,
    PG_HAS_ROLE('pg_read_all_stats', 'USAGE') AS sees_all_sessions
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
INNER JOIN pg_roles AS o ON c.relowner = o.oid
WHERE
    c.oid = TO_REGCLASS({{ bind("table_name") }})
    AND c.relkind IN ('r', 'p', 'm')
