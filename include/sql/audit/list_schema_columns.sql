-- Disaster recovery "Verify all tables present / Run schema validation queries": every table,
-- view and column outside the system schemas. visible = what an unqualified name resolves to
-- through the search_path.
SELECT
    n.nspname AS schema_name,
    c.relname AS table_name,
    c.relkind::text AS relkind,
    PG_TABLE_IS_VISIBLE(c.oid) AS visible,
    a.attname::text AS column_name,
    a.attnotnull AS not_null
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
LEFT JOIN pg_attribute AS a
    ON
        c.oid = a.attrelid
        AND a.attnum > 0
        AND NOT a.attisdropped
WHERE
    c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND n.nspname !~ '^pg_'
    AND n.nspname <> 'information_schema'
ORDER BY n.nspname, c.relname, a.attnum;
