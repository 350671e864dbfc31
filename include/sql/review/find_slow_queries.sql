-- Query Performance Review (weekly), runbook section 4 "Find slow queries": statements run in
-- this database that touch the lead-nurture tables, slowest mean first. The runbook's LIKE
-- filter (email_sends, lead_campaign) becomes a word-boundary regular expression over all the
-- runbook's tables (bound by the caller), and the statistics are limited to this database.
-- The time columns are named by version (mean_exec_time since PostgreSQL 13, mean_time before):
-- the caller binds the names it found in the view, read here through the row as JSON.
SELECT
    s.queryid,
    s.query,
    s.calls,
    s.rows,
    (TO_JSONB(s) ->> {{ bind("mean_column") }})::double precision AS mean_ms,
    (TO_JSONB(s) ->> {{ bind("max_column") }})::double precision AS max_ms,
    (TO_JSONB(s) ->> {{ bind("total_column") }})::double precision AS total_ms
FROM pg_stat_statements AS s
WHERE
    s.dbid = (
        SELECT d.oid FROM pg_database AS d
        WHERE d.datname = CURRENT_DATABASE()
    )
    AND s.query ~* {{ bind("tables_pattern") }}
ORDER BY mean_ms DESC, s.calls DESC
LIMIT {{ bind("limit") }};
