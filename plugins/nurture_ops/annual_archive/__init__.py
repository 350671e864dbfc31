"""nurture_annual_archive: email sends older than a year, with their events, into the archive tables."""

from nurture_ops.annual_archive.archive import DEFAULT_SENDS_BATCH_SIZE
from nurture_ops.annual_archive.docs import doc_md as doc_md
from nurture_ops.annual_archive.tasks import archive_old_data, archive_report, plan_archive

__all__ = ["DEFAULT_SENDS_BATCH_SIZE", "archive_old_data", "archive_report", "plan_archive"]
