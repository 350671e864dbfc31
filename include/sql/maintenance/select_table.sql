-- Resolve a table name as the search path would; no row when there is no such table.
SELECT
    c.oid::bigint AS table_oid,
    n.nspname AS schema_name,
    c.relname AS table_name
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE
    c.oid = TO_REGCLASS({{ bind("table_name") }})
    AND c.relkind IN ('r', 'p', 'm')
