-- Needs superuser or pg_read_all_settings; the caller treats a permission error as "unknown".
SELECT CURRENT_SETTING('shared_preload_libraries') AS shared_preload_libraries;
