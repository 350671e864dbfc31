-- The next batch of completed enrollments to clean up, locked for this transaction; keyset on id
-- (after_id = the previous batch's last id), rows locked by others are left for the next run.
SELECT id
FROM lead_campaign_enrollments
WHERE
    status = 'completed'
    AND completed_at < {{ bind("older_than") }}
    AND id > {{ bind("after_id") }}
ORDER BY id
LIMIT {{ bind("batch_size") }}
FOR UPDATE SKIP LOCKED
