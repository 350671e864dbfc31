-- Session-level lock: one archive (or cleanup) run at a time. Released by
-- release_archive_lock.sql, or by PostgreSQL when the session ends (a crashed run).
-- backend_pid: the server session that took it (checked by select_session_advisory_lock.sql
-- and by every batch, so that a transaction-mode pooler is caught).
SELECT
    PG_TRY_ADVISORY_LOCK({{ bind("lock_key") }}) AS acquired,
    PG_BACKEND_PID() AS backend_pid
