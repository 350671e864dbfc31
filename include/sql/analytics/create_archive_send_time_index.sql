-- The index the analytics rollup needs on the archive of email_sends: a day's rollup and the gap
-- finder read email_sends_archive by actual_send_time (half-open window of one UTC day), like
-- email_sends_send_time_covering_idx on the live table. Without it each rolled-up day scans the
-- whole archive. Idempotent; run where the archive tables are created (after
-- archive/create_archive_tables.sql, in the same transaction is fine). On an empty archive it is
-- instant; on an existing large one it takes a SHARE lock (blocks writes to the archive, not reads)
-- while it builds.
CREATE INDEX IF NOT EXISTS email_sends_archive_actual_send_time_idx
ON email_sends_archive (actual_send_time);
