-- Runbook 1.1 "Check yesterday's email volume", for one day.
-- Params: day_start, day_end (timestamptz): the day, half-open, on email_sends.created_at (as the
-- runbook counts: rows the scheduler created that day, whatever happened to them since).
-- One row:
--   emails_sent        sends created in the day, any status (the runbook's COUNT(*))
--   successful         of those, send_status = 'sent'
--   failed             of those, send_status = 'failed'
--   bounced            of those, send_status = 'bounced'
--   queued             of those, still send_status = 'queued'
--   failure_rate       failed * 100 / emails_sent, 2 decimals; NULL when no sends (no data)
--   avg_delay_seconds  mean of actual_send_time - scheduled_send_time over the sends that have an
--                      actual_send_time, whole seconds (runbook: < 60); NULL when none was sent
-- Runbook expectation: failed below 1 percent of total, avg_delay_seconds < 60.
SELECT
    COUNT(*) AS emails_sent,
    COUNT(*) FILTER (WHERE es.send_status = 'sent') AS successful,
    COUNT(*) FILTER (WHERE es.send_status = 'failed') AS failed,
    COUNT(*) FILTER (WHERE es.send_status = 'bounced') AS bounced,
    COUNT(*) FILTER (WHERE es.send_status = 'queued') AS queued,
    ROUND(
        COUNT(*) FILTER (WHERE es.send_status = 'failed') * 100.0 / NULLIF(COUNT(*), 0), 2
    ) AS failure_rate,
    -- AVG of the intervals, one EXTRACT: EXTRACT(EPOCH ...) per row is numeric work on 100,000 rows.
    ROUND(EXTRACT(EPOCH FROM AVG(es.actual_send_time - es.scheduled_send_time))) AS avg_delay_seconds
FROM email_sends AS es
WHERE
    es.created_at >= CAST({{ bind("day_start") }} AS timestamptz)
    AND es.created_at < CAST({{ bind("day_end") }} AS timestamptz);
