-- Every index outside the system schemas, with its table and whether it is valid (a failed
-- CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY leaves an invalid one behind).
SELECT
    n.nspname AS schema_name,
    i.relname AS index_name,
    t.relname AS table_name,
    x.indisvalid AS valid,
    x.indisunique AS is_unique
FROM pg_index AS x
INNER JOIN pg_class AS i ON x.indexrelid = i.oid
INNER JOIN pg_class AS t ON x.indrelid = t.oid
INNER JOIN pg_namespace AS n ON i.relnamespace = n.oid
WHERE
    n.nspname !~ '^pg_'
    AND n.nspname <> 'information_schema';
