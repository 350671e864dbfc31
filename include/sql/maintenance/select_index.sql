-- One index resolved by name (an index of a TOAST table only as pg_toast.<name>), with its
-- validity and whether an index build runs on its table now (for a TOAST index: on the TOAST
-- table or on the table it belongs to).
SELECT
    n.nspname AS schema_name,
    c.relname AS index_name,
    i.indisvalid AS is_valid,
    EXISTS(
        SELECT 1
        FROM pg_stat_progress_create_index AS p
        WHERE
            p.relid = i.indrelid
            OR p.relid IN (
                SELECT t.oid
                FROM pg_class AS t
                WHERE t.reltoastrelid = i.indrelid
            )
    ) AS build_in_progress
FROM pg_index AS i
INNER JOIN pg_class AS c ON i.indexrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE i.indexrelid = TO_REGCLASS({{ bind("index_name") }})
