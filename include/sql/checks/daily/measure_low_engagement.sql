-- Runbook 2 "Alert: Low Engagement Rate", for one analytics day.
-- Params: day (date): campaign_analytics.analytics_date to check;
--         open_rate_alert, click_rate_alert (numeric, percent): a campaign is below when
--         open_rate < open_rate_alert OR click_rate < click_rate_alert (runbook: 20 and 2).
-- Reads campaign_analytics (written by analytics/upsert_campaign_analytics.sql); a campaign
-- whose rate is NULL (no sends) is not below.
-- One row:
--   campaigns_measured  campaign_analytics rows of the day (0: no data for the day)
--   campaigns_below     of those, campaigns below either threshold; NULL when campaigns_measured
--                       is 0 (no data, not "all fine")
--   details             jsonb array, at most 10 campaigns below, lowest open_rate first:
--                       {campaign_id, campaign_name, organization_id, organization_name,
--                        emails_sent, open_rate, click_rate}
WITH measured AS (
    SELECT
        ca.campaign_id,
        nc.campaign_name,
        ca.organization_id,
        o.name AS organization_name,
        ca.emails_sent_today AS emails_sent,
        ca.open_rate,
        ca.click_rate,
        COALESCE(
            ca.open_rate < CAST({{ bind("open_rate_alert") }} AS numeric)
            OR ca.click_rate < CAST({{ bind("click_rate_alert") }} AS numeric),
            FALSE
        ) AS is_below
    FROM campaign_analytics AS ca
    INNER JOIN nurture_campaigns AS nc ON ca.campaign_id = nc.id
    INNER JOIN organizations AS o ON ca.organization_id = o.id
    WHERE ca.analytics_date = CAST({{ bind("day") }} AS date)
),

worst AS (
    SELECT *
    FROM measured AS m
    WHERE m.is_below
    ORDER BY m.open_rate ASC NULLS LAST, m.click_rate ASC NULLS LAST, m.campaign_id ASC
    LIMIT 10
)

SELECT
    COUNT(*) AS campaigns_measured,
    CASE WHEN COUNT(*) > 0 THEN COUNT(*) FILTER (WHERE m.is_below) END AS campaigns_below,
    (
        SELECT
            COALESCE(
                JSONB_AGG(
                    JSONB_BUILD_OBJECT(
                        'campaign_id', w.campaign_id,
                        'campaign_name', w.campaign_name,
                        'organization_id', w.organization_id,
                        'organization_name', w.organization_name,
                        'emails_sent', w.emails_sent,
                        'open_rate', w.open_rate,
                        'click_rate', w.click_rate
                    )
                    ORDER BY w.open_rate ASC NULLS LAST, w.click_rate ASC NULLS LAST, w.campaign_id ASC
                ),
                CAST('[]' AS jsonb)
            )
        FROM worst AS w
    ) AS details
FROM measured AS m;
