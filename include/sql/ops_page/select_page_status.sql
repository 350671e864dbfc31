-- What the Lead Nurture page can show: whether campaign_analytics has rows (and its latest day),
-- and whether the nurture_ops schema exists and at which migration.
-- Params: none.
SELECT
    (SELECT MAX(ca.analytics_date) FROM campaign_analytics AS ca) AS latest_analytics_date,
    TO_REGCLASS('{{ schema }}.alert_state') IS NOT NULL AS has_alert_state,
    TO_REGCLASS('{{ schema }}.schema_migrations') IS NOT NULL AS has_migrations
