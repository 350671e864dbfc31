-- Completed live enrollments whose id is already archived (restored by hand?): refuse to guess.
SELECT e.id
FROM lead_campaign_enrollments AS e
INNER JOIN lead_campaign_enrollments_archive AS a ON e.id = a.id
WHERE
    e.status = 'completed'
    AND e.completed_at < {{ bind("older_than") }}
ORDER BY e.id
LIMIT 20
