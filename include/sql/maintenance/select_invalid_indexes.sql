-- Indexes marked INVALID (pg_index.indisvalid = false): left by a failed CREATE INDEX
-- CONCURRENTLY or REINDEX CONCURRENTLY (*_ccnew, *_ccold). A build still running is invalid too:
-- build_in_progress says so, and such an index must not be dropped.
SELECT
    n.nspname AS schema_name,
    c.relname AS index_name,
    QUOTE_IDENT(n.nspname) || '.' || QUOTE_IDENT(c.relname) AS qualified_name,
    tn.nspname AS table_schema,
    t.relname AS table_name,
    PG_GET_INDEXDEF(i.indexrelid) AS definition,
    PG_RELATION_SIZE(i.indexrelid) AS size_bytes,
    c.relname ~ '_ccnew[0-9]*$' AS is_ccnew,
    c.relname ~ '_ccold[0-9]*$' AS is_ccold,
    EXISTS(
        SELECT 1
        FROM pg_stat_progress_create_index AS p
        WHERE p.relid = i.indrelid
    ) AS build_in_progress
FROM pg_index AS i
INNER JOIN pg_class AS c ON i.indexrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
INNER JOIN pg_class AS t ON i.indrelid = t.oid
INNER JOIN pg_namespace AS tn ON t.relnamespace = tn.oid
WHERE
    NOT i.indisvalid
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_toast'
ORDER BY n.nspname, c.relname
