-- Runbook 1 "Review Dashboard Metrics": the KPI table, for one day.
-- Params: day_start, day_end (timestamptz): the day, half-open;
--         workflow_scheduler, workflow_sender (text): the N8n workflow names
--         ('Lead Nurture - Message Scheduler', 'Lead Nurture - Email Sender').
--
-- Which sends belong to the day: those with actual_send_time in the window (the send was
-- attempted that day). This is the runbook's own choice for bounce and unsubscribe rates and
-- the analytics rollup's (analytics/upsert_campaign_analytics.sql), so each count below equals
-- the sum of that day's campaign_analytics rows. Sends that failed before any attempt (no
-- actual_send_time) are not here: checks/daily/measure_send_volume.sql counts them by created_at.
-- All rates are percentages with 2 decimals, NULL when the denominator is 0 (no data).
-- One row:
--   emails_sent               sends attempted in the day (any status)
--   delivered, failed, bounced  of those, send_status 'sent' / 'failed' / 'bounced'
--   unique_opens              distinct (campaign, lead) among them with opened_at set
--   unique_clicks             distinct (campaign, lead) among them with first_click_at set
--   unsubscribes              distinct sends with an 'unsubscribe' or 'group_unsubscribe' event
--                             whose event_timestamp is in the day (a send of any day; each send
--                             counted once, so SendGrid's duplicate webhooks do not inflate it)
--   delivery_rate             delivered / (delivered + failed + bounced)   alert < 90
--   open_rate                 unique_opens / emails_sent                    alert < 20
--   click_rate                unique_clicks / emails_sent                   alert < 2
--   unsubscribe_rate          unsubscribes / emails_sent                    alert > 1
--   bounce_rate               bounced / emails_sent                         alert > 10
--   scheduler_runs            workflow_executions of workflow_scheduler created in the day
--   scheduler_success_rate    those with status 'success' / scheduler_runs  alert < 95
--   sender_runs               workflow_executions of workflow_sender created in the day
--   sender_success_rate       those with status 'success' / sender_runs     alert < 95
-- Each count from its own index-only scan of the day (include/sql/schema/030): every send on
-- email_sends_send_time_covering_idx, the opened and the clicked ones on their partial indexes, so
-- opened_at and first_click_at are never read from the heap. DISTINCT on the two columns, not
-- COUNT(DISTINCT ROW(...)): a composite's generic comparison cost 40 ms for a day's opens.
WITH day_sends AS (
    SELECT
        COUNT(*) AS emails_sent,
        COUNT(*) FILTER (WHERE es.send_status = 'sent') AS delivered,
        COUNT(*) FILTER (WHERE es.send_status = 'failed') AS failed,
        COUNT(*) FILTER (WHERE es.send_status = 'bounced') AS bounced
    FROM email_sends AS es
    WHERE
        es.actual_send_time >= CAST({{ bind("day_start") }} AS timestamptz)
        AND es.actual_send_time < CAST({{ bind("day_end") }} AS timestamptz)
),

day_opens AS (
    SELECT COUNT(*) AS unique_opens
    FROM (
        SELECT DISTINCT
            es.campaign_id,
            es.lead_id
        FROM email_sends AS es
        WHERE
            es.opened_at IS NOT NULL
            AND es.actual_send_time >= CAST({{ bind("day_start") }} AS timestamptz)
            AND es.actual_send_time < CAST({{ bind("day_end") }} AS timestamptz)
    ) AS d
),

day_clicks AS (
    SELECT COUNT(*) AS unique_clicks
    FROM (
        SELECT DISTINCT
            es.campaign_id,
            es.lead_id
        FROM email_sends AS es
        WHERE
            es.first_click_at IS NOT NULL
            AND es.actual_send_time >= CAST({{ bind("day_start") }} AS timestamptz)
            AND es.actual_send_time < CAST({{ bind("day_end") }} AS timestamptz)
    ) AS d
),

day_unsubscribes AS (
    SELECT COUNT(DISTINCT ev.email_send_id) AS unsubscribes
    FROM email_events AS ev
    WHERE
        ev.event_type IN ('unsubscribe', 'group_unsubscribe')
        AND ev.event_timestamp >= CAST({{ bind("day_start") }} AS timestamptz)
        AND ev.event_timestamp < CAST({{ bind("day_end") }} AS timestamptz)
),

day_runs AS (
    SELECT
        COUNT(*) FILTER (
            WHERE wx.workflow_name = CAST({{ bind("workflow_scheduler") }} AS text)
        ) AS scheduler_runs,
        COUNT(*) FILTER (
            WHERE wx.workflow_name = CAST({{ bind("workflow_scheduler") }} AS text) AND wx.status = 'success'
        ) AS scheduler_successes,
        COUNT(*) FILTER (
            WHERE wx.workflow_name = CAST({{ bind("workflow_sender") }} AS text)
        ) AS sender_runs,
        COUNT(*) FILTER (
            WHERE wx.workflow_name = CAST({{ bind("workflow_sender") }} AS text) AND wx.status = 'success'
        ) AS sender_successes
    FROM workflow_executions AS wx
    WHERE
        wx.workflow_name IN (
            CAST({{ bind("workflow_scheduler") }} AS text), CAST({{ bind("workflow_sender") }} AS text)
        )
        AND wx.created_at >= CAST({{ bind("day_start") }} AS timestamptz)
        AND wx.created_at < CAST({{ bind("day_end") }} AS timestamptz)
)

SELECT
    s.emails_sent,
    s.delivered,
    s.failed,
    s.bounced,
    op.unique_opens,
    cl.unique_clicks,
    u.unsubscribes,
    ROUND(s.delivered * 100.0 / NULLIF(s.delivered + s.failed + s.bounced, 0), 2) AS delivery_rate,
    ROUND(op.unique_opens * 100.0 / NULLIF(s.emails_sent, 0), 2) AS open_rate,
    ROUND(cl.unique_clicks * 100.0 / NULLIF(s.emails_sent, 0), 2) AS click_rate,
    ROUND(u.unsubscribes * 100.0 / NULLIF(s.emails_sent, 0), 2) AS unsubscribe_rate,
    ROUND(s.bounced * 100.0 / NULLIF(s.emails_sent, 0), 2) AS bounce_rate,
    r.scheduler_runs,
    ROUND(r.scheduler_successes * 100.0 / NULLIF(r.scheduler_runs, 0), 2) AS scheduler_success_rate,
    r.sender_runs,
    ROUND(r.sender_successes * 100.0 / NULLIF(r.sender_runs, 0), 2) AS sender_success_rate
FROM day_sends AS s
CROSS JOIN day_opens AS op
CROSS JOIN day_clicks AS cl
CROSS JOIN day_unsubscribes AS u
CROSS JOIN day_runs AS r;
