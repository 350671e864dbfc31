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

-- The window's sends in three disjoint parts, each an index scan that reads only the window
-- (index-only on email_sends_send_time_covering_idx for the bulk; include/sql/schema/030):
-- processed in or after the window; still queued; failed without reaching SendGrid (processed at
-- updated_at, email_sends_unsent_processed_idx).
sends AS (
    SELECT
        es.send_status,
        es.actual_send_time,
        GREATEST(es.scheduled_send_time, es.created_at) AS due_at,
        es.actual_send_time AS processed_at
    FROM email_sends AS es
    WHERE
        es.actual_send_time >= DATE_TRUNC('minute', {{ bind("week_start") }}::timestamptz)
        AND es.created_at < {{ bind("week_end") }}::timestamptz
        AND es.scheduled_send_time < {{ bind("week_end") }}::timestamptz
    UNION ALL
    SELECT
        'queued' AS send_status,
        es.actual_send_time,
        GREATEST(es.scheduled_send_time, es.created_at) AS due_at,
        es.actual_send_time AS processed_at
    FROM email_sends AS es
    WHERE
        es.send_status = 'queued'
        AND (
            es.actual_send_time IS NULL
            OR es.actual_send_time < DATE_TRUNC('minute', {{ bind("week_start") }}::timestamptz)
        )
        AND es.created_at < {{ bind("week_end") }}::timestamptz
        AND es.scheduled_send_time < {{ bind("week_end") }}::timestamptz
    UNION ALL
    SELECT
        es.send_status,
        es.actual_send_time,
        GREATEST(es.scheduled_send_time, es.created_at) AS due_at,
        es.updated_at AS processed_at
    FROM email_sends AS es
    WHERE
        es.actual_send_time IS NULL
        AND es.send_status <> 'queued'
        AND es.updated_at >= DATE_TRUNC('minute', {{ bind("week_start") }}::timestamptz)
        AND es.created_at < {{ bind("week_end") }}::timestamptz
        AND es.scheduled_send_time < {{ bind("week_end") }}::timestamptz
),

-- DATE_BIN on the window's first minute is DATE_TRUNC to the minute in plain arithmetic (a third
-- of the statement's time at 700,000 sends a week went into DATE_TRUNC's time-zone work).
minutes AS (
    SELECT
        s.send_status,
        s.actual_send_time,
        DATE_BIN(interval '1 minute', s.due_at + interval '59.999999 seconds', b.first_minute) AS due_minute,
        DATE_BIN(
            interval '1 minute', s.processed_at + interval '59.999999 seconds', b.first_minute
        ) AS processed_minute
    FROM sends AS s
    CROSS JOIN bounds AS b
),

-- One pass over the sends, three counts per minute (GROUPING SETS): +1 when an email starts
-- waiting, -1 when it is processed, and the emails sent.
marks AS (
    SELECT
        CASE
            WHEN m.processed_minute IS NULL OR m.processed_minute > m.due_minute
                THEN GREATEST(m.due_minute, b.first_minute)
        END AS waiting_from,
        CASE WHEN m.processed_minute > m.due_minute THEN m.processed_minute END AS waiting_until,
        CASE
            WHEN
                m.send_status = 'sent'
                AND m.actual_send_time >= b.first_minute
                AND m.actual_send_time < b.window_end
                THEN DATE_BIN(interval '1 minute', m.actual_send_time, b.first_minute)
        END AS sent_minute
    FROM minutes AS m
    CROSS JOIN bounds AS b
),

counts AS (
    SELECT
        waiting_from,
        waiting_until,
        sent_minute,
        GROUPING(waiting_from, waiting_until, sent_minute) AS grouping_set,
        COUNT(*) AS emails
    FROM marks
    GROUP BY GROUPING SETS ((waiting_from), (waiting_until), (sent_minute))
),

change_per_minute AS (
    SELECT
        COALESCE(c.waiting_from, c.waiting_until) AS minute,
        SUM(CASE WHEN c.waiting_from IS NOT NULL THEN c.emails ELSE -c.emails END) AS delta
    FROM counts AS c
    -- GROUPING bits (waiting_from, waiting_until, sent_minute): 3 = grouped by waiting_from,
    -- 5 = by waiting_until; a NULL key is "no change", not a minute.
    WHERE
        (c.grouping_set = 3 AND c.waiting_from IS NOT NULL)
        OR (c.grouping_set = 5 AND c.waiting_until IS NOT NULL)
    GROUP BY COALESCE(c.waiting_from, c.waiting_until)
),

sent_per_minute AS (
    SELECT
        c.sent_minute AS minute,
        c.emails AS sent
    FROM counts AS c
    WHERE c.grouping_set = 6 AND c.sent_minute IS NOT NULL
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
