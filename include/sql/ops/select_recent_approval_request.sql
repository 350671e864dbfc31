-- The latest approval request of a fix over its cap still within its response time, if any (an
-- alert's reminder does not ask again while a request may be pending).
-- Params: remediation_key (text), since (timestamptz): the run's time minus the response timeout.
SELECT
    a.detail ->> 'approval_dag_id' AS dag_id,
    a.detail ->> 'approval_run_id' AS run_id,
    a.evaluated_at
FROM {{ schema }}.remediation_audit AS a
WHERE
    a.remediation_key = CAST({{ bind("remediation_key") }} AS text)
    AND a.outcome = 'approval_requested'
    AND a.evaluated_at >= CAST({{ bind("since") }} AS timestamptz)
ORDER BY a.evaluated_at DESC, a.id DESC
LIMIT 1
