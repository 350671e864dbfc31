-- Weekly "Review unsubscribe feedback" (runbook 7; alert action "Review feedback from unsubscribe
-- reasons"): unsubscribe and group_unsubscribe events of a half-open window, per campaign, with
-- the reasons found in the webhook payload (reason, unsubscribe_reason or feedback; SendGrid
-- itself sends none, a preference centre may). Duplicate webhook deliveries (runbook issue 2)
-- count once: one event per email send and event type. emails_sent is the campaign's sends in
-- the same window (actual_send_time), the denominator the runbook's unsubscribe rate uses.
WITH unsubscribes AS (
    SELECT DISTINCT ON (ee.email_send_id, ee.event_type)
        ee.email_send_id,
        ee.event_type,
        NULLIF(
            BTRIM(
                COALESCE(
                    ee.payload ->> 'reason',
                    ee.payload ->> 'unsubscribe_reason',
                    ee.payload ->> 'feedback'
                )
            ),
            ''
        ) AS reason
    FROM email_events AS ee
    WHERE
        ee.event_type IN ('unsubscribe', 'group_unsubscribe')
        AND ee.event_timestamp >= {{ bind("week_start") }}
        AND ee.event_timestamp < {{ bind("week_end") }}
    ORDER BY ee.email_send_id ASC, ee.event_type ASC, ee.event_timestamp ASC
),

with_campaign AS (
    SELECT
        u.event_type,
        u.reason,
        es.campaign_id,
        es.lead_id
    FROM unsubscribes AS u
    INNER JOIN email_sends AS es ON u.email_send_id = es.id
),

reasons AS (
    SELECT
        campaign_id,
        reason,
        COUNT(*) AS events
    FROM with_campaign
    GROUP BY campaign_id, reason
),

campaigns AS (
    SELECT
        campaign_id,
        COUNT(*) FILTER (WHERE event_type = 'unsubscribe') AS unsubscribes,
        COUNT(*) FILTER (WHERE event_type = 'group_unsubscribe') AS group_unsubscribes,
        COUNT(DISTINCT lead_id) AS leads
    FROM with_campaign
    GROUP BY campaign_id
),

sent AS (
    SELECT
        es.campaign_id,
        COUNT(*) AS emails_sent
    FROM email_sends AS es
    WHERE
        es.actual_send_time >= {{ bind("week_start") }}
        AND es.actual_send_time < {{ bind("week_end") }}
        AND es.campaign_id IN (SELECT c.campaign_id FROM campaigns AS c)
    GROUP BY es.campaign_id
)

SELECT
    c.campaign_id,
    nc.campaign_name,
    c.unsubscribes,
    c.group_unsubscribes,
    c.leads,
    COALESCE(s.emails_sent, 0) AS emails_sent,
    ROUND(c.unsubscribes * 100.0 / NULLIF(s.emails_sent, 0), 2) AS unsubscribe_rate,
    (
        SELECT
            JSONB_AGG(
                JSONB_BUILD_OBJECT('reason', r.reason, 'count', r.events)
                ORDER BY r.events DESC, r.reason ASC NULLS LAST
            )
        FROM reasons AS r
        WHERE r.campaign_id = c.campaign_id
    ) AS reasons
FROM campaigns AS c
LEFT JOIN nurture_campaigns AS nc ON c.campaign_id = nc.id
LEFT JOIN sent AS s ON c.campaign_id = s.campaign_id
ORDER BY c.unsubscribes + c.group_unsubscribes DESC, c.campaign_id ASC;
