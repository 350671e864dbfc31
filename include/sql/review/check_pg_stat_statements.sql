-- Is pg_stat_statements created in this database, in which schema, is its view reachable through
-- the search_path, and which column names does it have? mean_exec_time / max_exec_time /
-- total_exec_time since version 1.8 (PostgreSQL 13); mean_time / max_time / total_time before.
SELECT
    n.nspname AS extension_schema,
    e.extversion AS extension_version,
    CURRENT_SETTING('server_version_num')::integer AS server_version_num,
    v.oid IS NOT NULL AND PG_TABLE_IS_VISIBLE(v.oid) AS view_visible,
    EXISTS(
        SELECT 1
        FROM pg_attribute AS a
        WHERE
            a.attrelid = v.oid
            AND a.attname = 'mean_exec_time'
            AND NOT a.attisdropped
    ) AS has_exec_time_columns
FROM pg_extension AS e
INNER JOIN pg_namespace AS n ON e.extnamespace = n.oid
LEFT JOIN pg_class AS v
    ON
        e.extnamespace = v.relnamespace
        AND v.relname = 'pg_stat_statements'
WHERE e.extname = 'pg_stat_statements';
