-- Primary key, foreign key, unique and check constraints outside the system schemas, with their
-- columns in key order and the referenced table of a foreign key.
SELECT
    n.nspname AS schema_name,
    t.relname AS table_name,
    con.conname::text AS constraint_name,
    con.contype::text AS constraint_type,
    rt.relname AS referenced_table,
    con.convalidated AS validated,
    ARRAY(
        SELECT a.attname::text
        FROM UNNEST(con.conkey) WITH ORDINALITY AS k (attnum, position)
        INNER JOIN pg_attribute AS a
            ON
                con.conrelid = a.attrelid
                AND k.attnum = a.attnum
        ORDER BY k.position
    ) AS columns
FROM pg_constraint AS con
INNER JOIN pg_class AS t ON con.conrelid = t.oid
INNER JOIN pg_namespace AS n ON t.relnamespace = n.oid
LEFT JOIN pg_class AS rt ON con.confrelid = rt.oid
WHERE
    con.contype IN ('p', 'f', 'u', 'c')
    AND n.nspname !~ '^pg_'
    AND n.nspname <> 'information_schema';
