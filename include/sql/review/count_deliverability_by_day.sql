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

-- One row per (day, email send, kind) first, then plain counts: one hash aggregate over the week's
-- events instead of a sort per COUNT(DISTINCT ...).
event_kinds AS (
    SELECT DISTINCT
        (ee.event_timestamp AT TIME ZONE 'UTC')::date AS day,
        ee.email_send_id,
        CASE
            WHEN ee.event_type = 'bounce' AND ee.payload ->> 'type' = 'blocked' THEN 'blocked'
            ELSE ee.event_type
        END AS kind
    FROM email_events AS ee
    WHERE
        ee.event_type IN (
            'delivered', 'bounce', 'dropped', 'spamreport', 'open', 'click', 'unsubscribe'
        )
        AND ee.event_timestamp >= {{ bind("window_start") }}
        AND ee.event_timestamp < {{ bind("window_end") }}
),

events AS (
    SELECT
        ek.day,
        COUNT(*) FILTER (WHERE ek.kind = 'delivered') AS delivered,
        COUNT(*) FILTER (WHERE ek.kind = 'bounce') AS bounce,
        COUNT(*) FILTER (WHERE ek.kind = 'blocked') AS blocked,
        COUNT(*) FILTER (WHERE ek.kind = 'dropped') AS dropped,
        COUNT(*) FILTER (WHERE ek.kind = 'spamreport') AS spamreport,
        COUNT(*) FILTER (WHERE ek.kind = 'open') AS open,
        COUNT(*) FILTER (WHERE ek.kind = 'click') AS click,
        COUNT(*) FILTER (WHERE ek.kind = 'unsubscribe') AS unsubscribe
    FROM event_kinds AS ek
    GROUP BY ek.day
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
