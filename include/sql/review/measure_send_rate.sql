-- Sender Performance (runbook 4), target "Send 100 emails per minute", measured per minute over
-- a half-open window on actual_send_time (emails with send_status 'sent', as the runbook counts).
--
-- A quiet minute is not a slow sender: only minutes in which the sender had work waiting are
-- judged. An email is waiting at the start of minute m when it was due (scheduled and created)
-- at or before m and not yet processed at m (processed = actual_send_time; for a failed email
-- without one, its updated_at; still queued = never processed). For every minute of the window:
--   backlog_at_start = emails waiting at the start of the minute
--   expected         = LEAST(target, backlog_at_start): with 30 waiting, 30 sent is full speed
--   judged           = backlog_at_start > 0
--   misses target    = judged AND sent < expected; shortfall = expected - sent
-- The backlog is a running sum of +1 at the first minute start at or after an email became due
-- (emails due before the window count from its first minute) and -1 at the first minute start at
-- or after it was processed. CEIL to the minute is DATE_TRUNC of t + 1 minute - 1 microsecond.
WITH bounds AS (
    SELECT
        DATE_TRUNC('minute', {{ bind("week_start") }}::timestamptz) AS first_minute,
        {{ bind("week_end") }}::timestamptz AS window_end
),

sends AS (
    SELECT
        es.send_status,
        es.actual_send_time,
        DATE_TRUNC(
            'minute',
            GREATEST(es.scheduled_send_time, es.created_at) + interval '59.999999 seconds'
        ) AS due_minute,
        DATE_TRUNC(
            'minute',
            COALESCE(
                es.actual_send_time,
                CASE WHEN es.send_status <> 'queued' THEN es.updated_at END
            ) + interval '59.999999 seconds'
        ) AS processed_minute
    FROM email_sends AS es
    -- The bounds as bound values, not columns of `bounds`: the planner sees them and reads only
    -- the window's sends (plus the few never attempted) through the indexes.
    WHERE
        es.created_at < {{ bind("week_end") }}::timestamptz
        AND es.scheduled_send_time < {{ bind("week_end") }}::timestamptz
        AND (
            es.send_status = 'queued'
            OR es.actual_send_time >= DATE_TRUNC('minute', {{ bind("week_start") }}::timestamptz)
            OR (
                es.actual_send_time IS NULL
                AND es.updated_at >= DATE_TRUNC('minute', {{ bind("week_start") }}::timestamptz)
            )
        )
),

changes AS (
    SELECT
        GREATEST(s.due_minute, b.first_minute) AS minute,
        1 AS delta
    FROM sends AS s
    CROSS JOIN bounds AS b
    WHERE s.processed_minute IS NULL OR s.processed_minute > s.due_minute
    UNION ALL
    SELECT
        s.processed_minute AS minute,
        -1 AS delta
    FROM sends AS s
    WHERE s.processed_minute > s.due_minute
),

change_per_minute AS (
    SELECT
        minute,
        SUM(delta) AS delta
    FROM changes
    GROUP BY minute
),

sent_per_minute AS (
    SELECT
        DATE_TRUNC('minute', s.actual_send_time) AS minute,
        COUNT(*) AS sent
    FROM sends AS s
    CROSS JOIN bounds AS b
    WHERE
        s.send_status = 'sent'
        AND s.actual_send_time >= b.first_minute
        AND s.actual_send_time < b.window_end
    GROUP BY DATE_TRUNC('minute', s.actual_send_time)
),

grid AS (
    SELECT GENERATE_SERIES(b.first_minute, b.window_end - interval '1 minute', interval '1 minute') AS minute
    FROM bounds AS b
),

per_minute AS (
    SELECT
        g.minute,
        COALESCE(spm.sent, 0) AS sent,
        SUM(COALESCE(c.delta, 0)) OVER (ORDER BY g.minute) AS backlog_at_start
    FROM grid AS g
    LEFT JOIN change_per_minute AS c ON g.minute = c.minute
    LEFT JOIN sent_per_minute AS spm ON g.minute = spm.minute
),

judged AS (
    SELECT
        minute,
        sent,
        backlog_at_start,
        backlog_at_start > 0 AS judged,
        LEAST(CAST({{ bind("per_minute_target") }} AS bigint), backlog_at_start) AS expected
    FROM per_minute
),

totals AS (
    SELECT
        COUNT(*) AS minutes_in_window,
        COUNT(*) FILTER (WHERE sent > 0) AS minutes_with_sends,
        COUNT(*) FILTER (WHERE judged) AS minutes_judged,
        COUNT(*) FILTER (WHERE judged AND sent < expected) AS minutes_missing_target,
        COALESCE(SUM(sent), 0) AS emails_sent,
        COALESCE(MAX(sent), 0) AS peak_sent_per_minute,
        MAX(backlog_at_start) AS peak_backlog
    FROM judged
),

worst AS (
    SELECT
        minute,
        sent,
        backlog_at_start,
        expected,
        expected - sent AS shortfall
    FROM judged
    WHERE judged
    ORDER BY shortfall DESC, backlog_at_start DESC, minute ASC
    LIMIT {{ bind("worst_limit") }}
)

SELECT
    t.*,
    w.minute,
    w.sent,
    w.backlog_at_start,
    w.expected,
    w.shortfall
FROM totals AS t
LEFT JOIN worst AS w ON TRUE
ORDER BY w.shortfall DESC NULLS LAST, w.backlog_at_start DESC, w.minute ASC;
