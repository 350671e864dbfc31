"""The DAGs' docs are generated from the catalog (and each subpackage's constants), never copied.

Pure and fast, except the few tests that parse a real DAG file with a DagBag (no metadata DB):
they prove a changed catalog threshold changes the DAG's doc_md, and that a DAG's docs and its
tasks come from one selection (`checks_for(cadence)`, in catalog order).
"""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nurture_ops.core import catalog, docs
from nurture_ops.core.catalog import CHECKS, REMEDIATIONS, SCALING_GUIDELINES, checks_for, probe_for

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"
ALERT_DAGS = {"nurture_alerts_5min": "5min", "nurture_alerts_15min": "15min", "nurture_daily_health": "daily"}
CADENCES = sorted(set(ALERT_DAGS.values()))


def parse_dag(dag_id: str):
    """The DAG as the scheduler gets it: its real file parsed by a DagBag (no metadata DB)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


@pytest.fixture(scope="module")
def all_dags():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def with_alert(check_key: str, metric: str, alert: float, monkeypatch=None) -> catalog.Check:
    """A copy of a catalog check with one threshold's alert level changed (set in the catalog
    when monkeypatch is given)."""
    check = CHECKS[check_key]
    thresholds = tuple(
        dataclasses.replace(t, alert=alert) if t.metric == metric else t for t in check.thresholds
    )
    changed = dataclasses.replace(check, thresholds=thresholds)
    if monkeypatch is not None:
        monkeypatch.setitem(CHECKS, check_key, changed)
    return changed


# ---- wording ----------------------------------------------------------------------------------


def test_thresholds_are_worded_as_the_runbook_writes_them():
    failure = CHECKS["high_email_failure_rate"].thresholds[0]
    open_rate = next(t for t in CHECKS["kpi_review"].thresholds if t.metric == "open_rate")
    unsubscribe = next(t for t in CHECKS["kpi_review"].thresholds if t.metric == "unsubscribe_rate")
    assert docs.threshold_text(failure) == "failure_rate > 10%"
    assert docs.threshold_text(open_rate) == "open_rate < 20% (target 30%)"
    assert docs.threshold_text(unsubscribe) == "unsubscribe_rate > 1% (target 0.5%)"
    assert docs.threshold_text(CHECKS["emails_stuck_queued"].thresholds[0]) == "stuck_emails > 0"


def test_md_table_and_key_values():
    table = docs.md_table(("A", "B"), [("x | y", 100_000), ("multi\nline", None)])
    assert table.splitlines() == ["| A | B |", "|---|---|", "| x \\| y | 100,000 |", "| multi line | empty |"]
    assert docs.key_values({"limit": 100_000, "on": True}) == "- **limit**: 100,000\n- **on**: true"
    assert docs.checklist([("Done", "`task`")], ["Later"]) == "- [x] Done — `task`\n- [ ] Later — by hand"


# ---- the checks of a cadence ------------------------------------------------------------------


def test_selection_is_by_cadence_in_catalog_order_and_the_probe_is_no_check_group():
    order = list(CHECKS)
    for cadence in CADENCES:
        selected = checks_for(cadence)
        assert selected and all(c.cadence == cadence and c.role == "check" for c in selected)
        assert [c.key for c in selected] == [k for k in order if CHECKS[k] in selected]
    assert probe_for("5min") is catalog.DATABASE_CONNECTION_LOST
    assert probe_for("15min") is None and probe_for("daily") is None
    assert catalog.DATABASE_CONNECTION_LOST not in checks_for("5min")
    for check in CHECKS.values():  # a check group (and a report part) needs thresholds; the probe has none
        assert bool(check.thresholds) == (check.role in ("check", "report")), check.key


@pytest.mark.parametrize("cadence", CADENCES)
def test_alert_docs_hold_every_check_of_the_cadence(cadence):
    probe = probe_for(cadence)
    text = docs.alert_docs(checks_for(cadence), probe=probe)
    table = text.split("#### ", 2)[1]
    for check in checks_for(cadence) + ([probe] if probe else []):
        row = next(line for line in table.splitlines() if f"`{check.key}`" in line)
        assert check.title in row and check.severity in row
        assert (check.source or f"`{check.sql}`").replace("|", "\\|") in row  # an API's call, or the SQL file
        for threshold in check.thresholds:
            assert docs.threshold_text(threshold) in row
        for name in check.params:
            assert f"`{name}`" in row
        body = text.split(f"#### {check.title} — runbook actions", 1)[1].split("\n#### ", 1)[0]
        assert check.runbook_section in body
        assert docs.numbered(check.actions) in body
        if check.diagnosis:
            assert docs.numbered(check.diagnosis) in body
        if check.remediation:
            spec = REMEDIATIONS[check.remediation]
            assert f"**{spec.default_mode}** by default, at most {spec.max_rows:,} per run" in row
            assert spec.description in body
    # A check of another cadence is not there.
    others = [c for c in CHECKS.values() if c.cadence != cadence]
    assert not any(f"`{c.key}`" in table for c in others)


def test_inhibitions_say_what_is_held_back_while_what_fires():
    text = docs.inhibitions(checks_for("15min"))
    assert (
        "**Emails Stuck in Queued Status** is held back while **Workflow Execution Stopped** fires and "
        f"names {catalog.SENDER}"
    ) in text
    assert (
        f"**Overdue Enrollments** is held back while **Workflow Execution Stopped** fires and names {catalog.SCHEDULER}"
        in text
    )
    assert "held back while **Database Connection Lost** fires" in text
    owner = docs.inhibitions(checks_for("5min"), probe=probe_for("5min"))
    assert "While **Database Connection Lost** fires, every other check is held back" in owner


def test_scaling_steps_come_from_the_guidelines():
    text = docs.scaling_steps()
    for guideline in SCALING_GUIDELINES.values():
        assert guideline["section"] in text and guideline["trigger"] in text
        assert docs.numbered(guideline["actions"]) in text
    assert "Scale N8n" not in docs.scaling_steps(["database"])


def test_changing_a_threshold_changes_the_docs():
    before = docs.alert_docs([CHECKS["high_email_failure_rate"]])
    after = docs.alert_docs([with_alert("high_email_failure_rate", "failure_rate", 12.5)])
    assert "failure_rate > 10%" in before and "failure_rate > 12.5%" not in before
    assert "failure_rate > 12.5%" in after and "failure_rate > 10%" not in after


def test_core_docs_need_no_airflow():
    code = (
        "import sys; import nurture_ops.core.docs; "
        "sys.exit(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow') or 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env={"PYTHONPATH": str(REPO / "plugins")}, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode() or done.stdout.decode()


# ---- the slow cadences' constants -------------------------------------------------------------


def test_quarterly_docs_follow_the_capacity_limits(monkeypatch):
    from nurture_ops.quarterly_audit import doc_md
    from nurture_ops.quarterly_audit.capacity import ACT_PERCENT, CAPACITY_LIMITS

    text = doc_md("intro")
    for spec in CAPACITY_LIMITS.values():
        assert spec["runbook"] in text and f"{spec['limit']:,}" in text
    assert f">= {ACT_PERCENT:g}%" in text
    assert docs.scaling_steps() in text
    monkeypatch.setitem(CAPACITY_LIMITS["organizations"], "limit", 250)
    assert "| Organizations | Organizations: Up to 100 | 250 |" in doc_md("intro")


def test_weekly_docs_show_the_targets_the_review_applies():
    from nurture_ops.weekly_review import doc_md
    from nurture_ops.weekly_review.logic import SCHEDULER_ADVICE, SENDER_ADVICE, SLOW_QUERY_ADVICE

    text = doc_md("intro")
    assert "mean > 500 ms" in text and "> 10 s per 1,000 enrollments" in text
    assert "4 Sender Performance: 100 emails per minute" in text
    assert SLOW_QUERY_ADVICE in text
    assert docs.numbered(SCHEDULER_ADVICE) in text and docs.numbered(SENDER_ADVICE) in text
    assert docs.scaling_steps(["database"]) in text
    assert "- [x] Check SendGrid deliverability stats — `sendgrid_deliverability`" in text  # issue 13
    assert "target < 0.1%, alert at 0.3%" in text and "2% by default" in text


def test_monthly_docs_name_its_tables_silences_and_checklist():
    from nurture_ops.monthly_maintenance import doc_md
    from nurture_ops.monthly_maintenance.report import MONTHLY_CHECKLIST_BY_HAND

    text = doc_md("intro", tables=["email_sends", "email_events"], silenced=["emails_stuck_queued"])
    assert "`REINDEX TABLE email_sends; REINDEX TABLE email_events;`" in text
    assert "*Emails Stuck in Queued Status* (`emails_stuck_queued`)" in text
    for item in MONTHLY_CHECKLIST_BY_HAND:
        assert f"- [ ] {item} — by hand" in text
    assert '"lock_timeout_ms": 5000' in text and "> 90 days" in text


def test_annual_and_rollup_docs():
    from nurture_ops.analytics_rollup import doc_md as rollup_doc
    from nurture_ops.annual_archive import doc_md as annual_doc
    from nurture_ops.annual_archive.report import ANNUAL_CHECKLIST_BY_HAND
    from nurture_ops.core.analytics import DEFAULT_MAX_BACKFILL_DAYS

    text = annual_doc("intro", {"batch_size": 5000})
    for item in ANNUAL_CHECKLIST_BY_HAND:
        assert f"- [ ] {item} — by hand" in text
    assert "less than 365 days before it" in text and "| `batch_size` | 5,000 |" in text
    text = rollup_doc("intro", {})
    assert f"more than {DEFAULT_MAX_BACKFILL_DAYS} days" in text
    assert docs.numbered(CHECKS["analytics_not_updating"].actions) in text


# ---- through the real DAG files ---------------------------------------------------------------


def test_a_changed_catalog_threshold_changes_the_dag_docs(monkeypatch):
    assert "failure_rate > 10%" in parse_dag("nurture_alerts_5min").doc_md
    with_alert("high_email_failure_rate", "failure_rate", 12.5, monkeypatch)
    doc = parse_dag("nurture_alerts_5min").doc_md
    assert "failure_rate > 12.5%" in doc and "failure_rate > 10%" not in doc


def test_a_changed_kpi_level_changes_the_daily_docs_everywhere(monkeypatch):
    with_alert("kpi_review", "open_rate", 17.5, monkeypatch)
    doc = parse_dag("nurture_daily_health").doc_md
    assert "open_rate < 17.5% (target 30%)" in doc  # the checks table
    assert "| Open Rate | > 30% | < 17.5% |" in doc  # the KPI table
    assert "open_rate < 20%" not in doc and "< 20% |" not in doc.split("#### Checks")[0]


@pytest.mark.parametrize("dag_id", sorted(ALERT_DAGS))
def test_docs_and_tasks_come_from_one_selection(all_dags, dag_id):
    """The check groups are the cadence's catalog checks, in catalog order; so are the docs."""
    dag, cadence = all_dags[dag_id], ALERT_DAGS[dag_id]
    expected = [c.key for c in checks_for(cadence)]
    groups = [key for key, child in dag.task_group.children.items() if hasattr(child, "children")]
    assert groups == expected
    positions = [dag.doc_md.index(f"#### {CHECKS[k].title} — runbook actions") for k in expected]
    assert positions == sorted(positions)
    probe = probe_for(cadence)
    assert ("database_connection_lost" in dag.task_ids) == (probe is not None)
    assert ("#### Database Connection Lost — runbook actions" in dag.doc_md) == (probe is not None)


@pytest.mark.parametrize("dag_id", sorted(p.stem for p in DAGS_DIR.glob("nurture_*.py")))
def test_checklist_tasks_exist_and_intros_hold_no_runbook_text(all_dags, dag_id):
    dag = all_dags[dag_id]
    for line in dag.doc_md.splitlines():
        if line.startswith("- [x]"):
            for task_id in re.findall(r"`([a-z_]+)`", line):
                assert task_id in dag.task_ids, f"{dag_id} docs name a task it lacks: {task_id}"
    intro = ast.get_docstring(ast.parse((DAGS_DIR / f"{dag_id}.py").read_text())) or ""
    assert "%" not in intro
    copied = [a for c in CHECKS.values() for a in (*c.actions, *c.diagnosis)]
    copied += [a for g in SCALING_GUIDELINES.values() for a in (g["trigger"], *g["actions"])]
    copied += [docs.threshold_text(t) for c in CHECKS.values() for t in c.thresholds]
    assert not [text for text in copied if text in intro]
