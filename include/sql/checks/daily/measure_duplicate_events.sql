-- Runbook Issue 2 "Duplicate Email Events", for the events stored in one day.
-- Params: day_start, day_end (timestamptz): the day, half-open, on email_events.created_at.
-- One SendGrid event is identified by payload->>'sg_event_id' when present (SendGrid's own id,
-- the same on every retry of a webhook); event_hash is the Event Tracker's dedup key.
-- Duplicates are looked for among the day's rows only (a retry across midnight is not seen).
-- One row:
--   total_events                   events created in the day
--   unique_event_hashes            distinct non-NULL event_hash among them
--   events_without_hash            of those, event_hash IS NULL (the hash cannot dedup them)
--   duplicate_rows_same_hash       rows repeating an event_hash already seen that day (count
--                                  minus distinct): duplicates the hash identifies
--   duplicate_rows_missed_by_hash  rows sharing an sg_event_id with another row of the day but
--                                  carrying another event_hash (or none): for each sg_event_id,
--                                  its number of distinct hashes (each NULL counting as its own)
--                                  minus 1. Above 0: the hash is not a stable id of the event;
--                                  update the hash in the Event Tracker workflow (use sg_event_id)
--   details                        jsonb array, at most 10 examples, hash misses first, then
--                                  same-hash duplicates, most rows first: {kind ('missed_by_hash'
--                                  or 'same_hash'), sg_event_id, event_hash, email_send_id,
--                                  event_type, row_count, distinct_hashes, first_created_at,
--                                  last_created_at}
-- Implementation: one hash aggregate per event_hash and one per sg_event_id ((sg_event_id,
-- event_hash) pairs grouped only for repeated sg_event_ids), not sort-based COUNT(DISTINCT)s.
WITH day_events AS (
    SELECT
        ev.id,
        ev.email_send_id,
        ev.event_type,
        ev.event_hash,
        ev.payload ->> 'sg_event_id' AS sg_event_id,
        ev.created_at
    FROM email_events AS ev
    WHERE
        ev.created_at >= CAST({{ bind("day_start") }} AS timestamptz)
        AND ev.created_at < CAST({{ bind("day_end") }} AS timestamptz)
),

per_hash AS (
    SELECT
        de.event_hash,
        MIN(de.sg_event_id) AS sg_event_id,
        MIN(de.email_send_id) AS email_send_id,
        MIN(de.event_type) AS event_type,
        COUNT(*) AS row_count,
        MIN(de.created_at) AS first_created_at,
        MAX(de.created_at) AS last_created_at
    FROM day_events AS de
    WHERE de.event_hash IS NOT NULL
    GROUP BY de.event_hash
),

repeated_sg AS (
    SELECT de.sg_event_id
    FROM day_events AS de
    WHERE de.sg_event_id IS NOT NULL
    GROUP BY de.sg_event_id
    HAVING COUNT(*) > 1
),

per_sg_hash AS (
    SELECT
        de.sg_event_id,
        de.event_hash,
        COUNT(*) AS row_count,
        MIN(de.email_send_id) AS email_send_id,
        MIN(de.event_type) AS event_type,
        MIN(de.created_at) AS first_created_at,
        MAX(de.created_at) AS last_created_at
    FROM day_events AS de
    WHERE de.sg_event_id IN (SELECT r.sg_event_id FROM repeated_sg AS r)
    GROUP BY de.sg_event_id, de.event_hash
),

sg_groups AS (
    SELECT
        p.sg_event_id,
        MIN(p.email_send_id) AS email_send_id,
        MIN(p.event_type) AS event_type,
        MIN(p.event_hash) AS event_hash,
        CAST(SUM(p.row_count) AS bigint) AS row_count,
        COUNT(p.event_hash)
        + CAST(COALESCE(SUM(p.row_count) FILTER (WHERE p.event_hash IS NULL), 0) AS bigint)
            AS distinct_hashes,
        MIN(p.first_created_at) AS first_created_at,
        MAX(p.last_created_at) AS last_created_at
    FROM per_sg_hash AS p
    GROUP BY p.sg_event_id
    HAVING SUM(p.row_count) > 1
),

examples AS (
    SELECT
        'missed_by_hash' AS kind,
        1 AS kind_rank,
        sg.sg_event_id,
        sg.event_hash,
        sg.email_send_id,
        sg.event_type,
        sg.row_count,
        sg.distinct_hashes,
        sg.first_created_at,
        sg.last_created_at
    FROM sg_groups AS sg
    WHERE sg.distinct_hashes > 1
    UNION ALL
    SELECT
        'same_hash' AS kind,
        2 AS kind_rank,
        ph.sg_event_id,
        ph.event_hash,
        ph.email_send_id,
        ph.event_type,
        ph.row_count,
        1 AS distinct_hashes,
        ph.first_created_at,
        ph.last_created_at
    FROM per_hash AS ph
    WHERE ph.row_count > 1
    ORDER BY kind_rank ASC, row_count DESC, first_created_at ASC
    LIMIT 10
)

SELECT
    (SELECT COUNT(*) FROM day_events) AS total_events,
    (SELECT COUNT(*) FROM per_hash) AS unique_event_hashes,
    (
        SELECT COUNT(*)
        FROM day_events AS de
        WHERE de.event_hash IS NULL
    ) AS events_without_hash,
    (
        SELECT CAST(COALESCE(SUM(ph.row_count), 0) - COUNT(*) AS bigint)
        FROM per_hash AS ph
    ) AS duplicate_rows_same_hash,
    (
        SELECT CAST(COALESCE(SUM(sg.distinct_hashes - 1), 0) AS bigint)
        FROM sg_groups AS sg
    ) AS duplicate_rows_missed_by_hash,
    (
        SELECT
            COALESCE(
                JSONB_AGG(
                    JSONB_BUILD_OBJECT(
                        'kind', e.kind,
                        'sg_event_id', e.sg_event_id,
                        'event_hash', e.event_hash,
                        'email_send_id', e.email_send_id,
                        'event_type', e.event_type,
                        'row_count', e.row_count,
                        'distinct_hashes', e.distinct_hashes,
                        'first_created_at', e.first_created_at,
                        'last_created_at', e.last_created_at
                    )
                    ORDER BY e.kind_rank ASC, e.row_count DESC, e.first_created_at ASC
                ),
                CAST('[]' AS jsonb)
            )
        FROM examples AS e
    ) AS details;
