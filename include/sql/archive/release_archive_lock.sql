SELECT PG_ADVISORY_UNLOCK({{ bind("lock_key") }}) AS released
