-- Whether the server session running this statement holds the run's advisory lock. Through a
-- transaction-mode pooler the statement that took the lock may have run on another session.
-- A bigint key shows in pg_locks as classid (high 32 bits) and objid (low 32 bits).
-- (noqa CV05 below: the linter sees bind() as NULL; at run time it is a bound value.)
SELECT
    PG_BACKEND_PID() AS backend_pid,
    EXISTS(
        SELECT 1
        FROM pg_locks AS l
        WHERE
            l.locktype = 'advisory'
            AND l.granted
            AND l.objsubid = 1
            AND l.pid = PG_BACKEND_PID()
            AND l.classid::bigint = {{ bind("key_high") }} -- noqa: CV05
            AND l.objid::bigint = {{ bind("key_low") }} -- noqa: CV05
            AND l.database IN (
                SELECT d.oid
                FROM pg_database AS d
                WHERE d.datname = CURRENT_DATABASE()
            )
    ) AS held
