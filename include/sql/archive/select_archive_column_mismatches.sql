-- Columns where an archive table does not line up with its live table (position, name, type).
-- An archive in step with its live table returns exactly two rows: archived_at and
-- archive_run_id, after the last live column. Anything else means the live table changed
-- (a column added or retyped) and `SELECT moved.*` would no longer fit.
WITH live AS (
    SELECT
        a.attname AS column_name,
        FORMAT_TYPE(a.atttypid, a.atttypmod) AS data_type,
        ROW_NUMBER() OVER (ORDER BY a.attnum) AS position
    FROM pg_attribute AS a
    WHERE
        a.attrelid = TO_REGCLASS({{ bind("live_table") }})
        AND a.attnum > 0
        AND NOT a.attisdropped
),

archive AS (
    SELECT
        a.attname AS column_name,
        FORMAT_TYPE(a.atttypid, a.atttypmod) AS data_type,
        ROW_NUMBER() OVER (ORDER BY a.attnum) AS position
    FROM pg_attribute AS a
    WHERE
        a.attrelid = TO_REGCLASS({{ bind("archive_table") }})
        AND a.attnum > 0
        AND NOT a.attisdropped
)

SELECT
    COALESCE(live.position, archive.position) AS position,
    live.column_name AS live_column,
    live.data_type AS live_type,
    archive.column_name AS archive_column,
    archive.data_type AS archive_type
FROM live
FULL OUTER JOIN archive ON live.position = archive.position
WHERE
    live.column_name IS DISTINCT FROM archive.column_name
    OR live.data_type IS DISTINCT FROM archive.data_type
ORDER BY position
