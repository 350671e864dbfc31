-- Which archive tables exist (a dry run creates nothing, so they may not yet).
SELECT
    TO_REGCLASS('email_sends_archive') IS NOT NULL AS email_sends_archive,
    TO_REGCLASS('email_events_archive') IS NOT NULL AS email_events_archive,
    TO_REGCLASS('lead_campaign_enrollments_archive') IS NOT NULL AS lead_campaign_enrollments_archive
