-- Sessions holding advisory locks in this database (to name the holder when a second archive
-- run is refused). A bigint key shows in pg_locks as classid (high 32 bits) and objid (low 32).
SELECT
    l.pid,
    l.classid::bigint AS key_high,
    l.objid::bigint AS key_low,
    a.application_name,
    a.client_addr::text AS client_addr,
    a.backend_start,
    a.state
FROM pg_locks AS l
LEFT JOIN pg_stat_activity AS a ON l.pid = a.pid
WHERE
    l.locktype = 'advisory'
    AND l.granted
    AND l.objsubid = 1
    AND l.database IN (
        SELECT d.oid
        FROM pg_database AS d
        WHERE d.datname = CURRENT_DATABASE()
    )
