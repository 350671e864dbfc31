-- The Lead Nurture page: organizations ranked by bounce, unsubscribe and failure rate over the
-- campaign_analytics days [start_day, end_day) (worst first; ties by name).
-- Params: start_day, end_day (date, half-open); max_rows (integer).
-- failure_rate = failed / sent, the others as in select_kpi_totals.sql; NULL when nothing was sent.
WITH per_organization AS (
    SELECT
        ca.organization_id,
        SUM(ca.emails_sent_today) AS emails_sent,
        ROUND(SUM(ca.emails_bounced_today) * 100.0 / NULLIF(SUM(ca.emails_sent_today), 0), 2) AS bounce_rate,
        ROUND(SUM(ca.unsubscribes_today) * 100.0 / NULLIF(SUM(ca.emails_sent_today), 0), 2)
            AS unsubscribe_rate,
        ROUND(SUM(ca.emails_failed_today) * 100.0 / NULLIF(SUM(ca.emails_sent_today), 0), 2) AS failure_rate
    FROM campaign_analytics AS ca
    WHERE
        ca.analytics_date >= CAST({{ bind("start_day") }} AS date)
        AND ca.analytics_date < CAST({{ bind("end_day") }} AS date)
    GROUP BY ca.organization_id
)

SELECT
    po.organization_id,
    o.name AS organization_name,
    po.emails_sent,
    po.bounce_rate,
    po.unsubscribe_rate,
    po.failure_rate
FROM per_organization AS po
INNER JOIN organizations AS o ON po.organization_id = o.id
ORDER BY
    po.bounce_rate DESC NULLS LAST,
    po.unsubscribe_rate DESC NULLS LAST,
    po.failure_rate DESC NULLS LAST,
    o.name ASC
LIMIT {{ bind("max_rows") }}
