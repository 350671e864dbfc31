-- Mark a delivery done once the channel accepted it and withdraw the intent. Compare-and-set on
-- the intent's token (no row changes when another run took it over). One row when marked.
-- Params: delivered_state (text), episode (timestamptz or NULL), dedup_key (text or NULL),
--         delivered_at (timestamptz), token (uuid), alert_key, scope, channel (text).
UPDATE {{ schema }}.alert_deliveries
SET
    delivered_state = {{ bind("delivered_state") }},
    episode = {{ bind("episode") }},
    dedup_key = COALESCE({{ bind("dedup_key") }}, dedup_key),
    delivered_at = {{ bind("delivered_at") }},
    deliveries_sent = deliveries_sent + 1,
    sending_token = NULL,
    sending_since = NULL,
    sending_kind = NULL,
    sending_run = NULL
WHERE
    alert_key = CAST({{ bind("alert_key") }} AS text)
    AND scope = CAST({{ bind("scope") }} AS text)
    AND channel = CAST({{ bind("channel") }} AS text)
    AND sending_token = CAST({{ bind("token") }} AS uuid)
RETURNING alert_key
