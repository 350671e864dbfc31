-- First statement of every archive / cleanup batch: the bounds of this transaction only
-- (SET LOCAL, gone when it ends; values like '5000ms') and the server session it runs on,
-- compared with the session holding the run's lock.
SELECT
    SET_CONFIG('lock_timeout', {{ bind("lock_timeout") }}, TRUE) AS lock_timeout,
    SET_CONFIG('statement_timeout', {{ bind("statement_timeout") }}, TRUE) AS statement_timeout,
    SET_CONFIG(
        'idle_in_transaction_session_timeout', {{ bind("idle_timeout") }}, TRUE
    ) AS idle_timeout,
    PG_BACKEND_PID() AS backend_pid
