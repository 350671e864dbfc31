-- Session settings of a maintenance connection: how long to wait for a lock before giving up
-- (and retrying later) and how long one statement may run. Values like '5000ms'.
SELECT
    SET_CONFIG('lock_timeout', {{ bind("lock_timeout") }}, FALSE) AS lock_timeout,
    SET_CONFIG('statement_timeout', {{ bind("statement_timeout") }}, FALSE) AS statement_timeout
