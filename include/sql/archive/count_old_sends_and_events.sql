-- Live rows the annual archive would move: sends created before the cutoff, and every event
-- of those sends whatever the event's own time (an event never outlives its send).
SELECT
    (
        SELECT COUNT(*)
        FROM email_sends
        WHERE created_at < {{ bind("cutoff") }}
    ) AS sends,
    (
        SELECT COUNT(*)
        FROM email_events AS e
        INNER JOIN email_sends AS s ON e.email_send_id = s.id
        WHERE s.created_at < {{ bind("cutoff") }}
    ) AS events
