"""The doc_md of nurture_annual_archive: the annual checklist (with the items left by hand from
report.py), where rows go and how they move (archive.py, core.archiving), and the DAG's params."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nurture_ops.annual_archive.archive import MIN_ARCHIVE_AGE_DAYS
from nurture_ops.annual_archive.report import ANNUAL_CHECKLIST_BY_HAND
from nurture_ops.core.archiving import ARCHIVE_EXTRA_COLUMNS, LIVE_TO_ARCHIVE
from nurture_ops.core.docs import bullets, checklist, code, compose, params_table, section

ARCHIVED = ("email_sends", "email_events")


def where_section() -> str:
    moves = ", ".join(f"{code(live)} → {code(LIVE_TO_ARCHIVE[live])}" for live in ARCHIVED)
    extra = " and ".join(code(name) for name, _ in ARCHIVE_EXTRA_COLUMNS)
    return section(
        "What moves where",
        "`email_sends` created before the cutoff, **with every event of those sends** (nothing dangles), "
        f"in the same database: {moves} (same columns, plus {extra}).",
    )


def checklist_section() -> str:
    done = (("Archive old data (> 1 year)", "`plan_archive` → `archive` → `archive_report`"),)
    return section("Annually checklist (runbook 7)", checklist(done, ANNUAL_CHECKLIST_BY_HAND))


def moves_section() -> str:
    return section(
        "How it moves rows",
        bullets(
            [
                "**Cutoff**: midnight UTC of `cutoff_date`, default one year before the run's date. A cutoff "
                f"after the run's date, or less than {MIN_ARCHIVE_AGE_DAYS} days before it, or not a real "
                "date (`2026-02-30`) is rejected by `plan_archive` before anything is written; the failure "
                "message says why.",
                "**Batches**: each batch is one transaction, `WITH moved AS (DELETE … RETURNING *) INSERT "
                "INTO <archive> SELECT … FROM moved`, sends locked `FOR UPDATE SKIP LOCKED` (the sender is "
                "never blocked; rows it holds are left for the next run), deleted = inserted checked per "
                "batch.",
                "**Reconciled**: live before = live after + moved, archived after = archived before + moved.",
                "**Resumable**: a crash leaves whole batches moved; clear `archive` (or trigger again with "
                "the same cutoff) and it continues with what is still live. One run at a time (advisory "
                "lock).",
                "**Progress** in the `archive` task log: `batch 3: 5,000 sends, 11,204 events, "
                "15,000/42,310 sends (35%)`.",
            ]
        ),
    )


def doc_md(intro: str | None, params: Mapping[str, Any]) -> str:
    """The DAG's docs; `params` are the DAG's own trigger params."""
    return compose(
        intro,
        where_section(),
        checklist_section(),
        moves_section(),
        section("Params", params_table(params)),
    )
