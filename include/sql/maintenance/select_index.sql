-- One index resolved by name, with its validity and whether a build runs on its table now.
SELECT
    n.nspname AS schema_name,
    c.relname AS index_name,
    i.indisvalid AS is_valid,
    EXISTS(
        SELECT 1
        FROM pg_stat_progress_create_index AS p
        WHERE p.relid = i.indrelid
    ) AS build_in_progress
FROM pg_index AS i
INNER JOIN pg_class AS c ON i.indexrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE i.indexrelid = TO_REGCLASS({{ bind("index_name") }})
