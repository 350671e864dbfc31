-- Move the batch's sends (their events were moved just before, in the same transaction).
WITH moved AS (
    DELETE FROM email_sends
    WHERE
        id = ANY({{ bind("send_ids") }})
        AND created_at < {{ bind("cutoff") }}
    RETURNING *
),

archived AS (
    INSERT INTO email_sends_archive
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
