-- Quarterly "Review capacity and scaling needs" (runbook 5 "Current Capacity"): the levels the
-- runbook's limits are about, now and at the end of the quarter's first week, so the caller can
-- derive a growth rate. All bounds come from the caller (as_of, quarter_start + 7 days, ...).
--
-- Active enrollments in the past are estimated from timestamps: created before t and still
-- active now, or completed at or after t (completed_at). Paused enrollments and completed ones
-- without completed_at have no such history and are left out of both estimates, so the growth
-- compares like with like; active_enrollments is the exact count of status = 'active' now.
-- Emails are sends that reached SendGrid (actual_send_time set, whatever the outcome), counted
-- in 24-hour days ending at as_of (no calendar dates, no time zone): day k (k = 1..7) is
-- [as_of - k days, as_of - (k - 1) days): DATE_BIN with as_of as origin (plain arithmetic, one
-- index-only pass over the week; EXTRACT(EPOCH ...) in numeric cost half the statement).
WITH last_week_days AS (
    SELECT
        DATE_BIN(interval '1 day', es.actual_send_time, {{ bind("as_of") }}) AS day_start,
        COUNT(*) AS emails
    FROM email_sends AS es
    WHERE
        es.actual_send_time >= {{ bind("last_week_start") }}
        AND es.actual_send_time < {{ bind("as_of") }}
    GROUP BY DATE_BIN(interval '1 day', es.actual_send_time, {{ bind("as_of") }})
)

SELECT
    (
        SELECT COUNT(*) FROM lead_campaign_enrollments AS e
        WHERE e.status = 'active'
    ) AS active_enrollments,
    (
        SELECT COUNT(*) FROM lead_campaign_enrollments AS e
        WHERE
            e.created_at < {{ bind("first_week_end") }}
            AND (
                e.status = 'active'
                OR (e.status = 'completed' AND e.completed_at >= {{ bind("first_week_end") }})
            )
    ) AS enrollments_first_week_estimate,
    (
        SELECT COUNT(*) FROM lead_campaign_enrollments AS e
        WHERE
            e.created_at < {{ bind("as_of") }}
            AND (
                e.status = 'active'
                OR (e.status = 'completed' AND e.completed_at >= {{ bind("as_of") }})
            )
    ) AS enrollments_last_week_estimate,
    (
        SELECT COUNT(*) FROM email_sends AS es
        WHERE
            es.actual_send_time >= {{ bind("quarter_start") }}
            AND es.actual_send_time < {{ bind("first_week_end") }}
    ) AS emails_first_week,
    (SELECT CAST(COALESCE(SUM(d.emails), 0) AS bigint) FROM last_week_days AS d) AS emails_last_week,
    (SELECT COALESCE(MAX(d.emails), 0) FROM last_week_days AS d) AS busiest_day_emails,
    (
        SELECT COUNT(*) FROM organizations AS o
        WHERE o.created_at < {{ bind("first_week_end") }}
    ) AS organizations_first_week,
    (
        SELECT COUNT(*) FROM organizations AS o
        WHERE o.created_at < {{ bind("as_of") }}
    ) AS organizations;
