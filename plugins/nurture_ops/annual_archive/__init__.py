"""nurture_annual_archive: email sends older than a year, with their events, into the archive tables."""

from nurture_ops.annual_archive.tasks import archive_old_data, archive_report, plan_archive

__all__ = ["archive_old_data", "archive_report", "plan_archive"]
