-- Release the lock taken by lock_nurture_ops_schema.sql. Params: lock_key (bigint).
SELECT PG_ADVISORY_UNLOCK({{ bind("lock_key") }}) AS released
