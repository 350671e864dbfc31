-- The newest migration (include/sql/ops/migrations) applied to the nurture_ops tables; 0 when
-- none is recorded (a new database, or one created before migrations had version rows).
-- One query, cheap enough for every task to run first. schema_migrations may not exist yet and a
-- plain SELECT from it would fail, so it is read through QUERY_TO_XML, which runs the inner query
-- only when TO_REGCLASS found the table.
SELECT
    COALESCE(
        CASE
            WHEN TO_REGCLASS('{{ schema }}.schema_migrations') IS NOT NULL
                THEN (
                    XPATH(
                        '/row/version/text()',
                        QUERY_TO_XML(
                            'SELECT MAX(version) AS version FROM {{ schema }}.schema_migrations',
                            FALSE,
                            TRUE,
                            ''
                        )
                    )
                )[1]::text::integer
        END,
        0
    ) AS version
