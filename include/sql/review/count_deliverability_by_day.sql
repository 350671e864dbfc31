-- Weekly "Check SendGrid deliverability stats" (runbook 7): the database's own counts of what
-- SendGrid's Stats API reports, per UTC day of a half-open window [window_start, window_end) of
-- whole days (first_day .. last_day), for the reconciliation in weekly_review/deliverability.py.
--   sent           sends handed to SendGrid: send_status 'sent' or 'bounced' (a 'failed' send never
--                  reached it), by actual_send_time            vs SendGrid requests
--   bounced_sends  send_status 'bounced', by actual_send_time  vs bounces + blocks + bounce_drops
--   webhook events by event_timestamp, one per email send and kind (duplicate webhook deliveries,
--   runbook issue 2, count once), vs SendGrid's count of the same kind: delivered, bounce (type
--   bounce) vs bounces, bounce (type blocked) vs blocks, dropped vs bounce_drops, spamreport vs
--   spam_reports, open vs unique_opens, click vs unique_clicks, unsubscribe vs unsubscribes.
WITH days AS (
    SELECT d::date AS day
    FROM
        GENERATE_SERIES(
            {{ bind("first_day") }}::date, {{ bind("last_day") }}::date, interval '1 day'
        ) AS d
),

sends AS (
    SELECT
        (es.actual_send_time AT TIME ZONE 'UTC')::date AS day,
        COUNT(*) FILTER (WHERE es.send_status IN ('sent', 'bounced')) AS sent,
        COUNT(*) FILTER (WHERE es.send_status = 'bounced') AS bounced_sends
    FROM email_sends AS es
    WHERE
        es.actual_send_time >= {{ bind("window_start") }}
        AND es.actual_send_time < {{ bind("window_end") }}
    GROUP BY day
),

events AS (
    SELECT
        (ee.event_timestamp AT TIME ZONE 'UTC')::date AS day,
        COUNT(DISTINCT ee.email_send_id) FILTER (WHERE ee.event_type = 'delivered') AS delivered,
        COUNT(DISTINCT ee.email_send_id) FILTER (
            WHERE ee.event_type = 'bounce' AND COALESCE(ee.payload ->> 'type', 'bounce') != 'blocked'
        ) AS bounce,
        COUNT(DISTINCT ee.email_send_id) FILTER (
            WHERE ee.event_type = 'bounce' AND ee.payload ->> 'type' = 'blocked'
        ) AS blocked,
        COUNT(DISTINCT ee.email_send_id) FILTER (WHERE ee.event_type = 'dropped') AS dropped,
        COUNT(DISTINCT ee.email_send_id) FILTER (WHERE ee.event_type = 'spamreport') AS spamreport,
        COUNT(DISTINCT ee.email_send_id) FILTER (WHERE ee.event_type = 'open') AS open,
        COUNT(DISTINCT ee.email_send_id) FILTER (WHERE ee.event_type = 'click') AS click,
        COUNT(DISTINCT ee.email_send_id) FILTER (WHERE ee.event_type = 'unsubscribe') AS unsubscribe
    FROM email_events AS ee
    WHERE
        ee.event_timestamp >= {{ bind("window_start") }}
        AND ee.event_timestamp < {{ bind("window_end") }}
    GROUP BY day
)

SELECT
    d.day,
    COALESCE(s.sent, 0) AS sent,
    COALESCE(s.bounced_sends, 0) AS bounced_sends,
    COALESCE(e.delivered, 0) AS delivered,
    COALESCE(e.bounce, 0) AS bounce,
    COALESCE(e.blocked, 0) AS blocked,
    COALESCE(e.dropped, 0) AS dropped,
    COALESCE(e.spamreport, 0) AS spamreport,
    COALESCE(e.open, 0) AS open,
    COALESCE(e.click, 0) AS click,
    COALESCE(e.unsubscribe, 0) AS unsubscribe
FROM days AS d
LEFT JOIN sends AS s ON d.day = s.day
LEFT JOIN events AS e ON d.day = e.day
ORDER BY d.day
