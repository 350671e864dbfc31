-- The Lead Nurture page's trend filters: every campaign, with its organization.
-- Params: none. Small tables (at capacity 100 organizations, 1,000 campaigns).
SELECT
    o.id AS organization_id,
    o.name AS organization_name,
    c.id AS campaign_id,
    c.campaign_name
FROM nurture_campaigns AS c
INNER JOIN organizations AS o ON c.organization_id = o.id
ORDER BY o.name, c.campaign_name, c.id
