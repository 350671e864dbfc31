-- Database Responding Slowly (runbook 5 "Scale Database (Supabase)": query response time > 500 ms
-- consistently; every 5 minutes). The probe's latency and the checks that ran past their
-- statement timeout come from the run (alerting.measure.slowness_metrics); this statement adds
-- what the database shows: other sessions of this database waiting on a lock, or in a
-- transaction open longer than long_transaction_seconds (a lock holder is often one, "idle in
-- transaction"), with who blocks them and the table locks they hold beyond reading.
-- pg_stat_activity is the present, not the run's window. Metrics: lock_waits,
-- long_transactions. details: sessions (the 5 oldest transactions first).
WITH sessions AS (
    SELECT
        a.pid,
        a.xact_start,
        a.wait_event_type,
        a.pid::text AS pid_text,
        COALESCE(NULLIF(a.application_name, ''), 'no application_name') AS application_name,
        COALESCE(a.state, 'unknown') AS state,
        ROUND(EXTRACT(EPOCH FROM CLOCK_TIMESTAMP() - a.xact_start)::numeric, 1) AS transaction_s,
        CASE
            WHEN a.wait_event_type = 'Lock'
                THEN
                    'waiting on a ' || a.wait_event || ' lock held by pid '
                    || COALESCE(NULLIF(ARRAY_TO_STRING(PG_BLOCKING_PIDS(a.pid), ', '), ''), '?')
            WHEN STARTS_WITH(a.state, 'idle in transaction')
                THEN 'idle, its client has not ended the transaction'
            WHEN a.wait_event_type IS NOT NULL
                THEN 'running, waiting on ' || a.wait_event_type || ' ' || a.wait_event
            ELSE 'running'
        END AS waiting,
        COALESCE((
            SELECT
                '; holds '
                || STRING_AGG(DISTINCT l.mode || ' on ' || l.relation::regclass::text, ', ')
            FROM pg_locks AS l
            WHERE
                l.pid = a.pid
                AND l.granted
                AND l.locktype = 'relation'
                AND l.mode <> 'AccessShareLock'
                AND l.database = a.datid
        ), '') AS holds
    FROM pg_stat_activity AS a
    WHERE
        a.datname = CURRENT_DATABASE()
        AND a.pid <> PG_BACKEND_PID()
        AND a.backend_type = 'client backend'
        AND (
            a.wait_event_type = 'Lock'
            OR a.xact_start
            < CLOCK_TIMESTAMP()
            - MAKE_INTERVAL(secs => {{ bind("long_transaction_seconds") }}::double precision)
        )
)

SELECT
    (
        SELECT COUNT(*) FROM sessions
        WHERE wait_event_type = 'Lock'
    ) AS lock_waits,
    (
        SELECT COUNT(*) FROM sessions
        WHERE wait_event_type IS DISTINCT FROM 'Lock'
    ) AS long_transactions,
    JSONB_BUILD_OBJECT(
        'sessions',
        COALESCE((
            SELECT
                JSONB_AGG(
                    JSONB_BUILD_OBJECT(
                        'pid', s.pid_text,
                        'application_name', s.application_name,
                        'state', s.state,
                        'transaction_s', s.transaction_s,
                        'waiting', s.waiting,
                        'holds', s.holds
                    )
                    ORDER BY s.xact_start NULLS LAST, s.pid
                )
            FROM (
                SELECT * FROM sessions
                ORDER BY xact_start NULLS LAST, pid
                LIMIT 5
            ) AS s
        ), '[]'::jsonb)
    ) AS details
