-- The Lead Nurture page's trend filters: every campaign with analytics, with its organization.
-- Params: none. Small tables (organizations, nurture_campaigns) and the distinct campaign ids of
-- campaign_analytics (its UNIQUE (campaign_id, analytics_date) index).
SELECT
    o.id AS organization_id,
    o.name AS organization_name,
    c.id AS campaign_id,
    c.campaign_name
FROM nurture_campaigns AS c
INNER JOIN organizations AS o ON c.organization_id = o.id
WHERE EXISTS (
        SELECT 1
        FROM campaign_analytics AS ca
        WHERE ca.campaign_id = c.id
    )
ORDER BY o.name, c.campaign_name, c.id
