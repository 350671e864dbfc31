-- Runbook 2 "Alert: High Unsubscribe Rate", for one day, on the raw tables.
-- Params: day_start, day_end (timestamptz): the day, half-open.
-- Unsubscribes: sends with an 'unsubscribe' or 'group_unsubscribe' event whose event_timestamp
-- is in the day, each send counted once (SendGrid retries webhooks; runbook Issue 2). The send
-- itself may be of an earlier day. Sends: email_sends with actual_send_time in the day.
-- One row:
--   unsubscribes      as above, all campaigns
--   emails_sent       sends attempted in the day, all campaigns
--   unsubscribe_rate  unsubscribes * 100 / emails_sent, 2 decimals; NULL when emails_sent is 0
--                     (runbook: alert > 1)
--   details           jsonb array, at most 10 campaigns with unsubscribes in the day, most
--                     unsubscribes first: {campaign_id, campaign_name, organization_id,
--                     organization_name, unsubscribes, emails_sent, unsubscribe_rate}
--                     (a campaign's rate is NULL when it sent nothing that day)
{% import "macros/unsubscribes.sql" as unsubscribes %}
-- The day's counts (the rule): include/sql/macros/unsubscribes.sql.
WITH {{ unsubscribes.day_ctes("campaign_id") }},

totals AS (
    SELECT
        (
            SELECT CAST(COALESCE(SUM(du.unsubscribes), 0) AS bigint)
            FROM day_unsubscribes AS du
        ) AS unsubscribes,
        (
            SELECT CAST(COALESCE(SUM(ds.emails_sent), 0) AS bigint)
            FROM day_sends AS ds
        ) AS emails_sent
),

worst AS (
    SELECT
        du.campaign_id,
        nc.campaign_name,
        nc.organization_id,
        o.name AS organization_name,
        du.unsubscribes,
        COALESCE(ds.emails_sent, 0) AS emails_sent,
        ROUND(du.unsubscribes * 100.0 / NULLIF(ds.emails_sent, 0), 2) AS unsubscribe_rate
    FROM day_unsubscribes AS du
    INNER JOIN nurture_campaigns AS nc ON du.campaign_id = nc.id
    INNER JOIN organizations AS o ON nc.organization_id = o.id
    LEFT JOIN day_sends AS ds ON du.campaign_id = ds.campaign_id
    ORDER BY du.unsubscribes DESC, unsubscribe_rate DESC NULLS LAST, du.campaign_id ASC
    LIMIT 10
)

SELECT
    t.unsubscribes,
    t.emails_sent,
    ROUND(t.unsubscribes * 100.0 / NULLIF(t.emails_sent, 0), 2) AS unsubscribe_rate,
    (
        SELECT
            COALESCE(
                JSONB_AGG(
                    JSONB_BUILD_OBJECT(
                        'campaign_id', w.campaign_id,
                        'campaign_name', w.campaign_name,
                        'organization_id', w.organization_id,
                        'organization_name', w.organization_name,
                        'unsubscribes', w.unsubscribes,
                        'emails_sent', w.emails_sent,
                        'unsubscribe_rate', w.unsubscribe_rate
                    )
                    ORDER BY w.unsubscribes DESC, w.unsubscribe_rate DESC NULLS LAST, w.campaign_id ASC
                ),
                CAST('[]' AS jsonb)
            )
        FROM worst AS w
    ) AS details
FROM totals AS t;
