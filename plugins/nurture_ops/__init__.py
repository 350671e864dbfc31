"""nurture_ops: the lead-nurture runbook's checks, alerting, remediation and maintenance.

    core/          catalog (every check as data), settings, evaluation, time windows, database
                   access, SQL loading, text; knows nothing of Airflow tasks or of any DAG
    integrations/  clients of outside systems (N8n; workflow backups)
    alerting/      the path every check takes: alert state, Slack, guarded remediation, and the
                   TaskFlow blocks (probe, check groups) the alert DAGs assemble
    <dag>/         one subpackage per DAG of the slower cadences: logic (takes a connection),
                   report (its Slack text, pure), tasks (its only @task functions)

Airflow puts plugins/ on sys.path; tests do the same. Nothing here touches a connection, a
Variable or a file at import time. Import rules: pyproject.toml [tool.importlinter].
"""
