-- Indexes marked INVALID (pg_index.indisvalid = false): left by a failed CREATE INDEX
-- CONCURRENTLY or REINDEX CONCURRENTLY (*_ccnew, *_ccold). A build still running is invalid too:
-- build_in_progress says so, and such an index must not be dropped.
-- Every invalid index outside the system schemas, and in pg_toast the *_ccnew / *_ccold
-- leftovers on the TOAST tables of the maintained tables (param tables: their names, resolved as
-- the search path would; a table's TOAST table is pg_class.reltoastrelid). A TOAST leftover
-- (is_toast) is reported with the table it belongs to as table_schema / table_name; its
-- qualified_name starts with pg_toast., which is not on the search path.
WITH maintained_toast AS (
    SELECT
        m.oid AS table_oid,
        m.reltoastrelid AS toast_oid
    FROM pg_class AS m
    WHERE
        m.reltoastrelid <> 0
        AND m.oid IN (
            SELECT TO_REGCLASS(u.name)
            FROM UNNEST(CAST({{ bind("tables") }} AS text[])) AS u (name)
        )
)

SELECT
    n.nspname AS schema_name,
    c.relname AS index_name,
    QUOTE_IDENT(n.nspname) || '.' || QUOTE_IDENT(c.relname) AS qualified_name,
    tn.nspname AS table_schema,
    t.relname AS table_name,
    mt.table_oid IS NOT NULL AS is_toast,
    PG_GET_INDEXDEF(i.indexrelid) AS definition,
    PG_RELATION_SIZE(i.indexrelid) AS size_bytes,
    c.relname ~ '_ccnew[0-9]*$' AS is_ccnew,
    c.relname ~ '_ccold[0-9]*$' AS is_ccold,
    EXISTS(
        SELECT 1
        FROM pg_stat_progress_create_index AS p
        WHERE p.relid IN (i.indrelid, t.oid)
    ) AS build_in_progress
FROM pg_index AS i
INNER JOIN pg_class AS c ON i.indexrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
LEFT JOIN maintained_toast AS mt ON i.indrelid = mt.toast_oid
INNER JOIN pg_class AS t ON COALESCE(mt.table_oid, i.indrelid) = t.oid
INNER JOIN pg_namespace AS tn ON t.relnamespace = tn.oid
WHERE
    NOT i.indisvalid
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND (
        n.nspname !~ '^pg_toast'
        OR (mt.toast_oid IS NOT NULL AND c.relname ~ '_cc(new|old)[0-9]*$')
    )
ORDER BY n.nspname, c.relname
