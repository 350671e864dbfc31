-- Move the batch's completed enrollments into the archive; returns both counts to compare.
WITH moved AS (
    DELETE FROM lead_campaign_enrollments
    WHERE
        id = ANY({{ bind("enrollment_ids") }})
        AND status = 'completed'
        AND completed_at < {{ bind("older_than") }}
    RETURNING *
),

archived AS (
    INSERT INTO lead_campaign_enrollments_archive
    SELECT
        moved.*,
        {{ bind("archived_at") }},
        {{ bind("run_id") }}
    FROM moved
    RETURNING id
)

SELECT
    (SELECT COUNT(*) FROM moved) AS deleted,
    (SELECT COUNT(*) FROM archived) AS inserted
