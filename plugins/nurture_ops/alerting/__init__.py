"""The path every check takes: measure -> evaluate -> alert state -> Slack (and remediation).

DAG files use `alert_tasks` / `alert_doc_md` (a whole alert cadence, `cadence`), the blocks in
`groups` (probe_database, check_group, wire_inhibitions) and `dag_settings` (`defaults`).
"""

from nurture_ops.alerting.cadence import alert_doc_md, alert_tasks
from nurture_ops.alerting.defaults import ALLOWED_TAGS, OWNER, dag_settings, default_args, utc
from nurture_ops.alerting.groups import check_group, probe_database, wire_inhibitions

__all__ = [
    "ALLOWED_TAGS",
    "OWNER",
    "alert_doc_md",
    "alert_tasks",
    "check_group",
    "dag_settings",
    "default_args",
    "probe_database",
    "utc",
    "wire_inhibitions",
]
