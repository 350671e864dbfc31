-- What would make REINDEX TABLE CONCURRENTLY of one table wait for it after building the new
-- indexes, and so (lock_timeout) fail and throw them away: transactions of other sessions in this
-- database, open for more than older_than_s seconds, that
--   hold a snapshot (backend_xmin): after the build the rebuild waits for every older snapshot,
--     whatever table it reads (PostgreSQL leaves lazy VACUUM and autovacuum out of that wait,
--     and so does this query);
--   or hold a lock on the table, its TOAST table or one of their indexes: the rebuild waits for
--     the writers before building and validating, and for every holder before dropping the old
--     indexes.
-- Prepared transactions holding such a lock count too: they keep it until COMMIT / ROLLBACK
-- PREPARED. Sessions whose transaction the role may not see (no pg_read_all_stats) have no
-- xact_start here and are not counted. Params: table_oid, older_than_s. Oldest first.
WITH relations AS (
    SELECT r.oid
    FROM pg_class AS t
    CROSS JOIN LATERAL (VALUES (t.oid), (t.reltoastrelid)) AS r (oid)
    WHERE
        t.oid = CAST({{ bind("table_oid") }} AS oid)
        AND r.oid <> 0
    UNION ALL
    SELECT i.indexrelid
    FROM pg_class AS t
    INNER JOIN pg_index AS i ON i.indrelid IN (t.oid, t.reltoastrelid)
    WHERE t.oid = CAST({{ bind("table_oid") }} AS oid)
),

held AS (
    SELECT
        l.pid,
        l.virtualtransaction
    FROM pg_locks AS l
    INNER JOIN pg_database AS d ON l.database = d.oid
    WHERE
        l.granted
        AND l.locktype = 'relation'
        AND d.datname = CURRENT_DATABASE()
        AND l.relation IN (SELECT r.oid FROM relations AS r)
),

cutoff AS (
    SELECT
        NOW()
        - CAST({{ bind("older_than_s") }} AS double precision) * interval '1 second' AS open_before
)

SELECT
    a.pid,
    NULL AS prepared_gid,
    a.application_name,
    a.usename AS user_name,
    HOST(a.client_addr) AS client_addr,
    a.state,
    a.xact_start AS open_since,
    EXTRACT(EPOCH FROM NOW() - a.xact_start)::double precision AS age_s,
    a.backend_xmin IS NOT NULL AS holds_snapshot,
    EXISTS(
        SELECT 1
        FROM held AS h
        WHERE h.pid = a.pid
    ) AS holds_lock,
    LEFT(a.query, 200) AS query
FROM pg_stat_activity AS a
CROSS JOIN cutoff
WHERE
    a.datname = CURRENT_DATABASE()
    AND a.pid <> PG_BACKEND_PID()
    AND a.backend_type NOT IN ('autovacuum worker', 'parallel worker')
    AND a.pid NOT IN (SELECT v.pid FROM pg_stat_progress_vacuum AS v)
    AND a.xact_start < cutoff.open_before
    AND (
        a.backend_xmin IS NOT NULL
        OR EXISTS (
            SELECT 1
            FROM held AS h
            WHERE h.pid = a.pid
        )
    )

UNION ALL

SELECT
    NULL AS pid,
    p.gid AS prepared_gid,
    NULL AS application_name,
    p.owner AS user_name,
    NULL AS client_addr,
    'prepared' AS state,
    p.prepared AS open_since,
    EXTRACT(EPOCH FROM NOW() - p.prepared)::double precision AS age_s,
    FALSE AS holds_snapshot,
    TRUE AS holds_lock,
    NULL AS query
FROM pg_prepared_xacts AS p
CROSS JOIN cutoff
WHERE
    p.database = CURRENT_DATABASE()
    AND p.prepared < cutoff.open_before
    AND EXISTS (
        SELECT 1
        FROM held AS h
        WHERE h.pid IS NULL AND h.virtualtransaction = '-1/' || p.transaction::text
    )
ORDER BY open_since
