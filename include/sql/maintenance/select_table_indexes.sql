-- Indexes of one table with validity and size (before/after figures of a rebuild).
SELECT
    n.nspname AS schema_name,
    c.relname AS index_name,
    i.indisvalid AS is_valid,
    PG_RELATION_SIZE(i.indexrelid) AS size_bytes
FROM pg_index AS i
INNER JOIN pg_class AS c ON i.indexrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE i.indrelid = TO_REGCLASS({{ bind("table_name") }})
ORDER BY c.relname
