-- Runbook Issue 5 "Analytics Updater", fixed: campaign_analytics for ONE day, exactly.
-- Params: day (date): analytics_date to write; day_start, day_end (timestamptz): that day,
--         half-open, on email_sends.actual_send_time (UTC midnights; nurture_ops.windows.day_bounds);
--         computed_at (timestamptz): written to computed_at (from the caller, so a rerun over
--         unchanged data writes identical rows).
-- Jinja (nurture_ops.core.analytics, from analytics/select_archive_sources.sql):
--         sends_archive, events_archive (bool): read email_sends_archive / email_events_archive
--         too. They exist once the annual archive has run; a fresh database has neither.
-- Fixes over the runbook's query: half-open window on the raw timestamp instead of
-- day cast of actual_send_time against the current date; the campaign comes from email_sends itself, not a
-- join on enrollments (the monthly cleanup archives completed enrollments, which made their sends
-- vanish from the rollup); every column is computed and updated, not five of them.
-- Archived sends count: the annual archive cuts on created_at, so a day can be partly archived
-- (sends created before the cutoff, sent after it). A day's sends are those of email_sends and of
-- email_sends_archive in the window, its events those of email_events and email_events_archive,
-- so recomputing an archived or partly archived day gives the numbers it had before archiving.
-- A send in both tables (restored by hand, which the archive itself refuses to run over) counts
-- once, as its live copy, when both copies fall on the day.
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
-- changed is exact; but only when the day still has sends, live or archived: a day whose sends
-- are all gone (deleted, or archived before the archive tables existed) keeps its analytics
-- rather than losing its history.
-- Plan: index range scans of the day on email_sends (actual_send_time), email_sends_archive
-- (email_sends_archive_actual_send_time_idx, analytics/create_archive_send_time_index.sql) and
-- both events tables (event_timestamp), then primary-key probes for the day's unsubscribed sends
-- only: the work grows with one day's rows, not with the history kept live or archived.
-- Returns one row: rows_upserted, rows_deleted.
WITH day_send_copies AS (
    SELECT
        es.id,
        FALSE AS archived,
        es.campaign_id,
        es.lead_id,
        es.send_status,
        es.opened_at,
        es.first_click_at
    FROM email_sends AS es
    WHERE
        es.actual_send_time >= CAST({{ bind("day_start") }} AS timestamptz)
        AND es.actual_send_time < CAST({{ bind("day_end") }} AS timestamptz)
    {%- if sends_archive %}

        UNION ALL

        SELECT
            esa.id,
            TRUE AS archived,
            esa.campaign_id,
            esa.lead_id,
            esa.send_status,
            esa.opened_at,
            esa.first_click_at
        FROM email_sends_archive AS esa
        WHERE
            esa.actual_send_time >= CAST({{ bind("day_start") }} AS timestamptz)
            AND esa.actual_send_time < CAST({{ bind("day_end") }} AS timestamptz)
    {%- endif %}
),

-- One row per send of the day: a send in both tables (restored by hand) counts once, as its live
-- copy. Deduplicated within the day's rows (no probe into the other table), so it stays a window.
day_send_rows AS (
    SELECT DISTINCT ON (dsc.id)
        dsc.campaign_id,
        dsc.lead_id,
        dsc.send_status,
        dsc.opened_at,
        dsc.first_click_at
    FROM day_send_copies AS dsc
    ORDER BY dsc.id ASC, dsc.archived ASC
),

day_sends AS (
    SELECT
        dsr.campaign_id,
        COUNT(*) AS emails_sent_today,
        COUNT(*) FILTER (WHERE dsr.send_status = 'sent') AS emails_delivered_today,
        COUNT(*) FILTER (WHERE dsr.send_status = 'failed') AS emails_failed_today,
        COUNT(*) FILTER (WHERE dsr.send_status = 'bounced') AS emails_bounced_today,
        COUNT(DISTINCT dsr.lead_id) FILTER (WHERE dsr.opened_at IS NOT NULL) AS unique_opens_today,
        COUNT(DISTINCT dsr.lead_id) FILTER (WHERE dsr.first_click_at IS NOT NULL) AS unique_clicks_today
    FROM day_send_rows AS dsr
    GROUP BY dsr.campaign_id
),

-- Sends (of any day) with an unsubscribe event in the window, once each.
unsubscribed_sends AS (
    SELECT DISTINCT ev.email_send_id
    FROM email_events AS ev
    WHERE
        ev.event_type IN ('unsubscribe', 'group_unsubscribe')
        AND ev.event_timestamp >= CAST({{ bind("day_start") }} AS timestamptz)
        AND ev.event_timestamp < CAST({{ bind("day_end") }} AS timestamptz)
    {%- if events_archive %}

        UNION

        SELECT eva.email_send_id
        FROM email_events_archive AS eva
        WHERE
            eva.event_type IN ('unsubscribe', 'group_unsubscribe')
            AND eva.event_timestamp >= CAST({{ bind("day_start") }} AS timestamptz)
            AND eva.event_timestamp < CAST({{ bind("day_end") }} AS timestamptz)
    {%- endif %}
),

-- The campaign of each of those sends, from its live copy, else its archived one.
unsubscribed_send_campaigns AS (
    SELECT
        {%- if sends_archive %}
            COALESCE(es.campaign_id, esa.campaign_id) AS campaign_id
        {%- else %}
            es.campaign_id
        {%- endif %}
    FROM unsubscribed_sends AS us
    LEFT JOIN email_sends AS es ON us.email_send_id = es.id
    {%- if sends_archive %}
        LEFT JOIN email_sends_archive AS esa ON us.email_send_id = esa.id
    {%- endif %}
),

day_unsubscribes AS (
    SELECT
        usc.campaign_id,
        COUNT(*) AS unsubscribes_today
    FROM unsubscribed_send_campaigns AS usc
    WHERE usc.campaign_id IS NOT NULL
    GROUP BY usc.campaign_id
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
