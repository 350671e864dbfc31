-- Old live sends whose id is already in the archive (e.g. restored by hand without deleting
-- the archived copy). The run refuses to guess which copy is right.
SELECT s.id
FROM email_sends AS s
INNER JOIN email_sends_archive AS a ON s.id = a.id
WHERE s.created_at < {{ bind("cutoff") }}
ORDER BY s.id
LIMIT 20
