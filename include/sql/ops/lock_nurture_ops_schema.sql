-- Session-level lock: one session at a time migrates the nurture_ops tables (several tasks
-- may start at once). Waits for a holder; released by unlock_nurture_ops_schema.sql, or by
-- PostgreSQL when the session ends. Params: lock_key (bigint).
SELECT PG_ADVISORY_LOCK({{ bind("lock_key") }})
