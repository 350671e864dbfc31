-- Archived rows older than the cutoff: sends created before it, and the events of those sends.
SELECT
    (
        SELECT COUNT(*)
        FROM email_sends_archive
        WHERE created_at < {{ bind("cutoff") }}
    ) AS sends,
    (
        SELECT COUNT(*)
        FROM email_events_archive AS e
        INNER JOIN email_sends_archive AS s ON e.email_send_id = s.id
        WHERE s.created_at < {{ bind("cutoff") }}
    ) AS events
