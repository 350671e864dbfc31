-- Runbook Issue 4 "Personalization Tokens Not Replaced": leads with an active enrollment whose
-- name or email is missing (NULL, or empty/blank, which renders the same broken token), now.
-- Params: none (the state of the tables when run).
-- One row:
--   leads_missing_data           distinct leads with an 'active' enrollment and a missing name
--                                or email
--   missing_name, missing_email  of those, name missing / email missing (a lead may be in both)
--   active_enrollments_affected  'active' enrollments of those leads
--   details                      jsonb array, at most 10 organizations, most affected leads
--                                first: {organization_id, organization_name, leads,
--                                missing_name, missing_email}
WITH affected AS (
    SELECT
        l.id,
        l.organization_id,
        NULLIF(TRIM(l.name), '') IS NULL AS missing_name,
        NULLIF(TRIM(l.email), '') IS NULL AS missing_email,
        (
            SELECT COUNT(*)
            FROM lead_campaign_enrollments AS lce
            WHERE lce.lead_id = l.id AND lce.status = 'active'
        ) AS active_enrollments
    FROM leads AS l
    WHERE
        (NULLIF(TRIM(l.name), '') IS NULL OR NULLIF(TRIM(l.email), '') IS NULL)
        AND EXISTS (
            SELECT 1
            FROM lead_campaign_enrollments AS lce
            WHERE lce.lead_id = l.id AND lce.status = 'active'
        )
),

per_org AS (
    SELECT
        a.organization_id,
        o.name AS organization_name,
        COUNT(*) AS leads,
        COUNT(*) FILTER (WHERE a.missing_name) AS missing_name,
        COUNT(*) FILTER (WHERE a.missing_email) AS missing_email
    FROM affected AS a
    INNER JOIN organizations AS o ON a.organization_id = o.id
    GROUP BY a.organization_id, o.name
    ORDER BY leads DESC, organization_name ASC
    LIMIT 10
)

SELECT
    COUNT(*) AS leads_missing_data,
    COUNT(*) FILTER (WHERE a.missing_name) AS missing_name,
    COUNT(*) FILTER (WHERE a.missing_email) AS missing_email,
    CAST(COALESCE(SUM(a.active_enrollments), 0) AS bigint) AS active_enrollments_affected,
    (
        SELECT
            COALESCE(
                JSONB_AGG(
                    JSONB_BUILD_OBJECT(
                        'organization_id', p.organization_id,
                        'organization_name', p.organization_name,
                        'leads', p.leads,
                        'missing_name', p.missing_name,
                        'missing_email', p.missing_email
                    )
                    ORDER BY p.leads DESC, p.organization_name ASC
                ),
                CAST('[]' AS jsonb)
            )
        FROM per_org AS p
    ) AS details
FROM affected AS a;
