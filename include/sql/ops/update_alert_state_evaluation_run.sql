-- The Airflow run that last evaluated an alert ('<dag_id>/<run_id>'), for the page's link.
-- Params: run (text), alert_key (text), scope (text), evaluated_at (timestamptz): only the run of
-- the latest recorded evaluation is kept.
UPDATE {{ schema }}.alert_state
SET last_evaluated_run = {{ bind("run") }}
WHERE
    alert_key = CAST({{ bind("alert_key") }} AS text)
    AND scope = CAST({{ bind("scope") }} AS text)
    AND last_evaluated_at = CAST({{ bind("evaluated_at") }} AS timestamptz)
