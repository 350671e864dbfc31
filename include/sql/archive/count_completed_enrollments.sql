-- Live enrollments the monthly cleanup would move: completed before older_than.
SELECT COUNT(*) AS enrollments
FROM lead_campaign_enrollments
WHERE
    status = 'completed'
    AND completed_at < {{ bind("older_than") }}
