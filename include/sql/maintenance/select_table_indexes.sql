-- Indexes of one table and of its TOAST table (is_toast; schema pg_toast), with validity and
-- size: the before/after figures of a rebuild, and the *_ccnew copies a failed REINDEX TABLE
-- CONCURRENTLY leaves on either.
SELECT
    n.nspname AS schema_name,
    c.relname AS index_name,
    i.indisvalid AS is_valid,
    i.indrelid <> t.oid AS is_toast,
    PG_RELATION_SIZE(i.indexrelid) AS size_bytes
FROM pg_class AS t
INNER JOIN pg_index AS i ON i.indrelid IN (t.oid, t.reltoastrelid)
INNER JOIN pg_class AS c ON i.indexrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE t.oid = TO_REGCLASS({{ bind("table_name") }})
ORDER BY is_toast, c.relname
