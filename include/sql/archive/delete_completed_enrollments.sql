-- Delete the batch's completed enrollments (cleanup mode "delete": no archive copy is kept).
WITH moved AS (
    DELETE FROM lead_campaign_enrollments
    WHERE
        id = ANY({{ bind("enrollment_ids") }})
        AND status = 'completed'
        AND completed_at < {{ bind("older_than") }}
    RETURNING id
)

SELECT
    COUNT(*) AS deleted,
    0 AS inserted
FROM moved
