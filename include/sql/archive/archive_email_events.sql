-- Move every event of the batch's sends into the archive; returns both counts so the caller
-- can check that what was deleted is exactly what was inserted (same transaction as the sends).
WITH moved AS (
    DELETE FROM email_events
    WHERE email_send_id = ANY({{ bind("send_ids") }})
    RETURNING *
),

archived AS (
    INSERT INTO email_events_archive
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
