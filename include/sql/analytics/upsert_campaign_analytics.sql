-- Runbook Issue 5 "Analytics Updater", fixed: campaign_analytics for ONE day, exactly.
-- Params: day (date): analytics_date to write; day_start, day_end (timestamptz): that day,
--         half-open, on email_sends.actual_send_time (UTC midnights; nurture_ops.windows.day_bounds);
--         computed_at (timestamptz): written to computed_at (from the caller, so a rerun over
--         unchanged data writes identical rows).
-- Fixes over the runbook's query: half-open window on the raw timestamp instead of
-- day cast of actual_send_time against the current date; the campaign comes from email_sends itself, not a
-- join on enrollments (the monthly cleanup archives completed enrollments, which made their sends
-- vanish from the rollup); every column is computed and updated, not five of them.
-- One row per campaign that sent in the day (days without sends write nothing):
--   organization_id         the campaign's organization (nurture_campaigns; so one row per
--                           campaign, matching UNIQUE (campaign_id, analytics_date))
--   emails_sent_today       sends attempted in the day (actual_send_time in the window), any status
--   emails_delivered_today  of those, send_status 'sent'; _failed_today 'failed'; _bounced_today
--                           'bounced'
--   unique_opens_today      distinct leads among those sends with opened_at set (at run time)
--   unique_clicks_today     distinct leads among those sends with first_click_at set
--   unsubscribes_today      distinct sends of the campaign (of any day) with an 'unsubscribe' or
--                           'group_unsubscribe' event whose event_timestamp is in the window
--   delivery_rate           delivered / (delivered + failed + bounced)
--   open_rate, click_rate, unsubscribe_rate, bounce_rate
--                           unique_opens / unique_clicks / unsubscribes / bounced over
--                           emails_sent_today
--   (rates: percent, 2 decimals, NULL when the denominator is 0)
-- Rows of the day for campaigns that no longer sent that day are deleted, so a rerun after data
-- changed is exact; but only when the day still has sends: a day whose sends are all gone (the
-- yearly archive of data > 1 year) keeps its analytics rather than losing its history.
-- Returns one row: rows_upserted, rows_deleted.
WITH day_sends AS (
    SELECT
        es.campaign_id,
        COUNT(*) AS emails_sent_today,
        COUNT(*) FILTER (WHERE es.send_status = 'sent') AS emails_delivered_today,
        COUNT(*) FILTER (WHERE es.send_status = 'failed') AS emails_failed_today,
        COUNT(*) FILTER (WHERE es.send_status = 'bounced') AS emails_bounced_today,
        COUNT(DISTINCT es.lead_id) FILTER (WHERE es.opened_at IS NOT NULL) AS unique_opens_today,
        COUNT(DISTINCT es.lead_id) FILTER (WHERE es.first_click_at IS NOT NULL) AS unique_clicks_today
    FROM email_sends AS es
    WHERE
        es.actual_send_time >= CAST({{ bind("day_start") }} AS timestamptz)
        AND es.actual_send_time < CAST({{ bind("day_end") }} AS timestamptz)
    GROUP BY es.campaign_id
),

day_unsubscribes AS (
    SELECT
        es.campaign_id,
        COUNT(DISTINCT ev.email_send_id) AS unsubscribes_today
    FROM email_events AS ev
    INNER JOIN email_sends AS es ON ev.email_send_id = es.id
    WHERE
        ev.event_type IN ('unsubscribe', 'group_unsubscribe')
        AND ev.event_timestamp >= CAST({{ bind("day_start") }} AS timestamptz)
        AND ev.event_timestamp < CAST({{ bind("day_end") }} AS timestamptz)
    GROUP BY es.campaign_id
),

computed AS (
    SELECT
        nc.organization_id,
        ds.campaign_id,
        CAST({{ bind("day") }} AS date) AS analytics_date,
        CAST(ds.emails_sent_today AS integer) AS emails_sent_today,
        CAST(ds.emails_delivered_today AS integer) AS emails_delivered_today,
        CAST(ds.emails_failed_today AS integer) AS emails_failed_today,
        CAST(ds.emails_bounced_today AS integer) AS emails_bounced_today,
        CAST(ds.unique_opens_today AS integer) AS unique_opens_today,
        CAST(ds.unique_clicks_today AS integer) AS unique_clicks_today,
        CAST(COALESCE(du.unsubscribes_today, 0) AS integer) AS unsubscribes_today,
        ROUND(
            ds.emails_delivered_today * 100.0
            / NULLIF(ds.emails_delivered_today + ds.emails_failed_today + ds.emails_bounced_today, 0),
            2
        ) AS delivery_rate,
        ROUND(ds.unique_opens_today * 100.0 / NULLIF(ds.emails_sent_today, 0), 2) AS open_rate,
        ROUND(ds.unique_clicks_today * 100.0 / NULLIF(ds.emails_sent_today, 0), 2) AS click_rate,
        ROUND(
            COALESCE(du.unsubscribes_today, 0) * 100.0 / NULLIF(ds.emails_sent_today, 0), 2
        ) AS unsubscribe_rate,
        ROUND(ds.emails_bounced_today * 100.0 / NULLIF(ds.emails_sent_today, 0), 2) AS bounce_rate,
        CAST({{ bind("computed_at") }} AS timestamptz) AS computed_at
    FROM day_sends AS ds
    INNER JOIN nurture_campaigns AS nc ON ds.campaign_id = nc.id
    LEFT JOIN day_unsubscribes AS du ON ds.campaign_id = du.campaign_id
),

stale AS (
    DELETE FROM campaign_analytics AS ca
    WHERE
        ca.analytics_date = CAST({{ bind("day") }} AS date)
        AND EXISTS (SELECT 1 FROM computed)
        AND NOT EXISTS (
            SELECT 1
            FROM computed AS c
            WHERE c.campaign_id = ca.campaign_id
        )
    RETURNING ca.campaign_id
),

upserted AS (
    INSERT INTO campaign_analytics (
        organization_id,
        campaign_id,
        analytics_date,
        emails_sent_today,
        emails_delivered_today,
        emails_failed_today,
        emails_bounced_today,
        unique_opens_today,
        unique_clicks_today,
        unsubscribes_today,
        delivery_rate,
        open_rate,
        click_rate,
        unsubscribe_rate,
        bounce_rate,
        computed_at
    )
    SELECT
        c.organization_id,
        c.campaign_id,
        c.analytics_date,
        c.emails_sent_today,
        c.emails_delivered_today,
        c.emails_failed_today,
        c.emails_bounced_today,
        c.unique_opens_today,
        c.unique_clicks_today,
        c.unsubscribes_today,
        c.delivery_rate,
        c.open_rate,
        c.click_rate,
        c.unsubscribe_rate,
        c.bounce_rate,
        c.computed_at
    FROM computed AS c
    ON CONFLICT (campaign_id, analytics_date) DO UPDATE
        SET
            organization_id = excluded.organization_id,
            emails_sent_today = excluded.emails_sent_today,
            emails_delivered_today = excluded.emails_delivered_today,
            emails_failed_today = excluded.emails_failed_today,
            emails_bounced_today = excluded.emails_bounced_today,
            unique_opens_today = excluded.unique_opens_today,
            unique_clicks_today = excluded.unique_clicks_today,
            unsubscribes_today = excluded.unsubscribes_today,
            delivery_rate = excluded.delivery_rate,
            open_rate = excluded.open_rate,
            click_rate = excluded.click_rate,
            unsubscribe_rate = excluded.unsubscribe_rate,
            bounce_rate = excluded.bounce_rate,
            computed_at = excluded.computed_at
    RETURNING campaign_analytics.campaign_id
)

SELECT
    (SELECT COUNT(*) FROM upserted) AS rows_upserted,
    (SELECT COUNT(*) FROM stale) AS rows_deleted;
