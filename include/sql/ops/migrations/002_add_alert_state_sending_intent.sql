-- Migration 002: the intent to send, so that Slack is never called under the alert_state row lock
-- (nurture_ops.alerting.state, "Delivery"). A run records under the lock which message it is about
-- to post, commits, posts with no lock held, then marks it sent with a compare-and-set on
-- sending_token. A fresh intent keeps an overlapping run from posting the same message; a stale one
-- (older than state.SENDING_STALE_AFTER) is taken over. All NULL when nothing is being sent.
-- Idempotent: every column is added only when missing.
ALTER TABLE {{ schema }}.alert_state
-- Who holds the intent: the compare-and-set key of the mark that follows the post.
ADD COLUMN IF NOT EXISTS sending_token uuid,
-- When the intent was recorded (the database clock): its age decides fresh or stale.
ADD COLUMN IF NOT EXISTS sending_since timestamptz,
-- What is being sent: fire, remind, resolve, report or message, and its text.
ADD COLUMN IF NOT EXISTS sending_kind text,
ADD COLUMN IF NOT EXISTS sending_text text,
-- The run sending it ('<dag_id>/<run_id>', NULL for a callback): a retry of the same run takes it
-- over at once, since Airflow never runs two tries of one task at the same time.
ADD COLUMN IF NOT EXISTS sending_run text;
