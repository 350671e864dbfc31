"""nurture_ops: the lead-nurture runbook's checks, alerting, remediation and maintenance.

Shared by every DAG in dags/. Airflow puts plugins/ on sys.path; tests do the same.
Nothing here touches a connection, a Variable or a file at import time.
"""
