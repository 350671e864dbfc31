"""
### Lead nurture — annual archive (runbook 7 "Annually", section 5 "Archive old data (> 1 year)")

04:00 UTC on the 2nd of January, and by hand whenever needed. Moves `email_sends` created before
the cutoff, **with every event of those sends** (nothing dangles), into `email_sends_archive` and
`email_events_archive` (same columns, plus `archived_at` and `archive_run_id`) in the same
database. One **[INFO] Annual archive** message with the final counts and the reconciliation.

#### Annually checklist (runbook 7)
- [x] Archive old data (> 1 year): `plan_archive` → `archive` → `archive_report`
- [ ] Comprehensive security audit: by hand
- [ ] Review and renew SendGrid plan: by hand
- [ ] Team training on system operations: by hand

#### How it moves rows
- **Cutoff**: midnight UTC of `cutoff_date`, default one year before the run's date. A cutoff
  after the run's date, or less than 365 days before it, or not a real date (`2026-02-30`) is
  rejected by `plan_archive` before anything is written; the failure message says why.
- **Batches**: each batch is one transaction, `WITH moved AS (DELETE … RETURNING *) INSERT INTO
  <archive> SELECT … FROM moved`, sends locked `FOR UPDATE SKIP LOCKED` (the sender is never
  blocked; rows it holds are left for the next run), deleted = inserted checked per batch.
- **Reconciled**: live before = live after + moved, archived after = archived before + moved.
- **Resumable**: a crash leaves whole batches moved; clear `archive` (or trigger again with the
  same cutoff) and it continues with what is still live. One run at a time (advisory lock).
- **Progress** in the `archive` task log: `batch 3: 5,000 sends, 11,204 events, 15,000/42,310 sends (35%)`.

#### Running it by hand
*Trigger DAG w/ config* in the UI, or
`airflow dags trigger nurture_annual_archive --conf '{"cutoff_date": "2025-01-01", "dry_run": true}'`

| Param | Default | Meaning |
|---|---|---|
| `cutoff_date` | empty | archive sends created before this date (YYYY-MM-DD); empty: one year before the run |
| `dry_run` | false | count what would move, change nothing; the report says DRY RUN |
| `batch_size` | 5000 | sends per batch (100 – 50,000); smaller batches hold locks for less time |

Start with a dry run, read its report, then run again with `dry_run` off.
"""

from datetime import timedelta

from airflow.sdk import DAG, Param

from nurture_ops.alerting import default_args, utc
from nurture_ops.annual_archive import archive_old_data, archive_report, plan_archive

with DAG(
    dag_id="nurture_annual_archive",
    description="Runbook annually: archive email sends and their events older than one year",
    schedule="0 4 2 1 *",
    start_date=utc(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=12),
    default_args=default_args(),
    tags=["nurture", "annual", "maintenance"],
    doc_md=__doc__,
    params={
        "cutoff_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Archive sends created before (YYYY-MM-DD)",
            description="Leave empty for one year before the run's date; at least 365 days before it",
        ),
        "dry_run": Param(
            False, type="boolean", title="Dry run", description="Count what would move, change nothing"
        ),
        "batch_size": Param(
            5000,
            type="integer",
            minimum=100,
            maximum=50000,
            title="Batch size",
            description="Sends moved per transaction (their events go with them)",
        ),
    },
):
    archive_report(archive_old_data(plan_archive()))
