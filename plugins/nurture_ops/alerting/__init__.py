"""The path every check takes: measure -> evaluate -> alert state -> Slack (and remediation).

DAG files use the blocks in `groups` (probe_database, check_group, wire_inhibitions) and the
task defaults in `defaults`.
"""

from nurture_ops.alerting.defaults import ALLOWED_TAGS, OWNER, default_args, utc
from nurture_ops.alerting.groups import check_group, probe_database, wire_inhibitions

__all__ = [
    "ALLOWED_TAGS",
    "OWNER",
    "check_group",
    "default_args",
    "probe_database",
    "utc",
    "wire_inhibitions",
]
