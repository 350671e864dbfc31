-- The per-organization states of one check worth evaluating again (alerting.organizations):
-- firing, or last notified as firing. An organization with neither that is ok now has nothing to
-- record, so a run writes only the few rows that matter, whatever the number of organizations.
-- Params: alert_key (text). Global states (scope '') are not included.
SELECT scope
FROM {{ schema }}.alert_state
WHERE
    alert_key = CAST({{ bind("alert_key") }} AS text)
    AND scope <> ''
    AND (firing OR notified_state = 'firing')
ORDER BY scope
