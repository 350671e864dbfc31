-- Planner statistics of one table after ANALYZE: estimated rows and pages.
SELECT
    c.reltuples::bigint AS estimated_rows,
    c.relpages AS pages
FROM pg_class AS c
WHERE c.oid = TO_REGCLASS({{ bind("table_name") }})
