-- Runbook Issue 3 "High Bounce Rate", for one day, with the state of the bounce remediation.
-- Params: day_start, day_end (timestamptz): the day, half-open, on email_sends.actual_send_time.
-- A lead is invalid when leads.metadata->>'email_invalid' = 'true'. Only hard bounces
-- (bounce_type = 'hard') invalidate a lead; soft ones (SendGrid 'blocked') never do, nor does a
-- hard bounce from before the lead's last reset (metadata.email_valid_since) or to another
-- address than its current one: the rule of remediation/count_hard_bounce_leads.sql, whose two
-- counts the remediation metrics below are.
-- One row:
--   total                              sends attempted in the day (any status)
--   bounced                            of those, send_status = 'bounced'
--   bounce_rate                        bounced * 100 / total, 2 decimals; NULL when total is 0
--                                      (runbook: target < 5, alert > 10)
--   hard_bounces, soft_bounces         of the bounced, bounce_type 'hard' / 'soft'
--   hard_bounce_leads_to_invalidate    leads not yet marked invalid with a hard bounce (any day)
--                                      that counts by the rule: what the daily fix
--                                      (invalidate_hard_bounce_leads) would mark
--   active_enrollments_of_invalid_leads
--                                      'active' or 'paused' enrollments of leads that are marked
--                                      invalid or about to be: what the daily fix would complete.
--                                      The two equal remediation/count_hard_bounce_leads.sql
--   details                            jsonb array, at most 10 leads that bounced in the day and
--                                      have bounced at least twice in all, most bounces first:
--                                      {lead_id, organization_id, organization_name, bounce_count,
--                                       hard_bounces, soft_bounces, email_invalid, last_bounce_at}
{% import "macros/hard_bounce.sql" as hard_bounce %}
WITH day_sends AS (
    SELECT
        COUNT(*) AS total,
        COUNT(*) FILTER (WHERE es.send_status = 'bounced') AS bounced,
        COUNT(*) FILTER (WHERE es.send_status = 'bounced' AND es.bounce_type = 'hard') AS hard_bounces,
        COUNT(*) FILTER (WHERE es.send_status = 'bounced' AND es.bounce_type = 'soft') AS soft_bounces
    FROM email_sends AS es
    WHERE
        es.actual_send_time >= CAST({{ bind("day_start") }} AS timestamptz)
        AND es.actual_send_time < CAST({{ bind("day_end") }} AS timestamptz)
),

-- The bounce fix's rule: include/sql/macros/hard_bounce.sql.
leads_to_invalidate AS (
    SELECT l.id
    FROM leads AS l
    WHERE
        {{ hard_bounce.lead_to_invalidate("l") }}
),

to_invalidate AS (
    SELECT COUNT(*) AS hard_bounce_leads_to_invalidate
    FROM leads_to_invalidate
),

open_enrollments AS (
    SELECT COUNT(*) AS active_enrollments_of_invalid_leads
    FROM lead_campaign_enrollments AS lce
    WHERE
        {{ hard_bounce.enrollment_to_complete("lce", "leads_to_invalidate") }}
),

repeat_bouncers AS (
    SELECT
        es.lead_id,
        COUNT(*) AS bounce_count,
        COUNT(*) FILTER (WHERE es.bounce_type = 'hard') AS hard_bounces,
        COUNT(*) FILTER (WHERE es.bounce_type = 'soft') AS soft_bounces,
        MAX(es.actual_send_time) AS last_bounce_at
    FROM email_sends AS es
    WHERE
        es.send_status = 'bounced'
        AND es.lead_id IN (
            SELECT ds.lead_id
            FROM email_sends AS ds
            WHERE
                ds.send_status = 'bounced'
                AND ds.actual_send_time >= CAST({{ bind("day_start") }} AS timestamptz)
                AND ds.actual_send_time < CAST({{ bind("day_end") }} AS timestamptz)
        )
    GROUP BY es.lead_id
    HAVING COUNT(*) >= 2
    ORDER BY bounce_count DESC, es.lead_id ASC
    LIMIT 10
)

SELECT
    s.total,
    s.bounced,
    ROUND(s.bounced * 100.0 / NULLIF(s.total, 0), 2) AS bounce_rate,
    s.hard_bounces,
    s.soft_bounces,
    ti.hard_bounce_leads_to_invalidate,
    oe.active_enrollments_of_invalid_leads,
    (
        SELECT
            COALESCE(
                JSONB_AGG(
                    JSONB_BUILD_OBJECT(
                        'lead_id', rb.lead_id,
                        'organization_id', l.organization_id,
                        'organization_name', o.name,
                        'bounce_count', rb.bounce_count,
                        'hard_bounces', rb.hard_bounces,
                        'soft_bounces', rb.soft_bounces,
                        'email_invalid', COALESCE(l.metadata ->> 'email_invalid' = 'true', FALSE),
                        'last_bounce_at', rb.last_bounce_at
                    )
                    ORDER BY rb.bounce_count DESC, rb.lead_id ASC
                ),
                CAST('[]' AS jsonb)
            )
        FROM repeat_bouncers AS rb
        INNER JOIN leads AS l ON rb.lead_id = l.id
        INNER JOIN organizations AS o ON l.organization_id = o.id
    ) AS details
FROM day_sends AS s
CROSS JOIN to_invalidate AS ti
CROSS JOIN open_enrollments AS oe;
