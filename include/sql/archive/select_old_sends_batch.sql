-- The next batch of sends to archive, locked for this transaction. SKIP LOCKED: a send another
-- session holds (the sender updating it) is left for the next run. Keyset on id (after_id = the
-- previous batch's last id) so a batch never rescans the index entries of rows already moved.
SELECT id
FROM email_sends
WHERE
    created_at < {{ bind("cutoff") }}
    AND id > {{ bind("after_id") }}
ORDER BY id
LIMIT {{ bind("batch_size") }}
FOR UPDATE SKIP LOCKED
