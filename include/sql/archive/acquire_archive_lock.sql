-- Session-level lock: one archive (or cleanup) run at a time. Released by
-- release_archive_lock.sql, or by PostgreSQL when the session ends (a crashed run).
SELECT PG_TRY_ADVISORY_LOCK({{ bind("lock_key") }}) AS acquired
