-- Archived enrollments completed before older_than.
SELECT COUNT(*) AS enrollments
FROM lead_campaign_enrollments_archive
WHERE
    status = 'completed'
    AND completed_at < {{ bind("older_than") }}
