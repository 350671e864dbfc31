"""`make bench` (second part), `make bench-scheduler`: DAG runs under the real scheduler, timed.

    python -m dev.bench_scheduler [--runs 3] [--executors local,celery] [--report PATH]

For each executor (LocalExecutor, then CeleryExecutor with two workers) the real components are
booted as `make run` does (dev/scheduler_harness.py: free 127.0.0.1 ports, a private home, a fresh
metadata database), on a lead-nurture database seeded with the demo data (dev/seed.py, seed 42),
and `nurture_alerts_5min` and `nurture_alerts_15min` are triggered --runs times each through the
REST API, one run at a time, for successive logical dates inside the seeded data. Reported:

- wall: from the trigger call to the first poll (every 0.5 s) that sees the run succeed;
  the median of the runs is the figure (the target: the 5-minute DAG in <= 20 s on 2 cores);
- what the time went to, from the task instances' queued / start / end times (REST API):
  trigger -> first task queued; the critical path (the chain of tasks that ended last) split into
  scheduler gaps (an upstream ended -> this task queued), start-up (queued -> started: executor
  pick-up, process start, until the task reports running) and run (started -> ended: the task
  process parsing the DAG file, importing, the task's own work); tasks executed, and the median
  start-up and run per task over all tasks;
- SQL: the time PostgreSQL spent executing statements for the run in the lead-nurture database
  (pg_stat_database.active_time, before and after), and in Airflow's metadata database.

The machine's load (os.getloadavg, as `uptime` prints it) is printed with the figures: on a
shared machine they vary with what else runs. JSON: .local/bench/scheduler.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO / "plugins", REPO):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".local" / "bench" / "airflow"))

import psycopg  # noqa: E402

from dev import pg, scheduler_harness  # noqa: E402
from dev import seed as demo_seed  # noqa: E402
from dev.slack_sink import SlackSink  # noqa: E402

NOW = datetime(2026, 11, 29, 14, 37, tzinfo=UTC)  # the seed's "now"
DAGS = {"nurture_alerts_5min": timedelta(minutes=5), "nurture_alerts_15min": timedelta(minutes=15)}
LEADS_DB = "nurture_bench_scheduler"
TARGET_5MIN_SECONDS = 20.0
REPORT = REPO / ".local" / "bench" / "scheduler.json"


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return (b - a).total_seconds() if a and b else None


def _active_ms(dbnames: tuple[str, ...]) -> dict[str, float]:
    """pg_stat_database.active_time (ms spent executing statements) per database."""
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        rows = conn.execute(
            "SELECT datname, active_time FROM pg_stat_database WHERE datname = ANY(%s)", (list(dbnames),)
        ).fetchall()
    return {name: float(ms or 0.0) for name, ms in rows}


def critical_path(tis: list[dict], upstream: dict[str, list[str]]) -> list[dict]:
    """The chain of task instances that ended last: from the last to end, each step back to the
    upstream that ended last. Returned first to last."""
    by_id = {ti["task_id"]: ti for ti in tis if _ts(ti["end_date"])}
    if not by_id:
        return []
    path = [max(by_id.values(), key=lambda ti: _ts(ti["end_date"]))]
    while True:
        ups = [by_id[u] for u in upstream.get(path[-1]["task_id"], []) if u in by_id]
        if not ups:
            return list(reversed(path))
        path.append(max(ups, key=lambda ti: _ts(ti["end_date"])))


def analyse(run: dict, wall: float, tis: list[dict], upstream: dict[str, list[str]]) -> dict:
    executed = [ti for ti in tis if ti.get("hostname") and _ts(ti["start_date"])]
    startup = [_seconds(_ts(ti["queued_when"]), _ts(ti["start_date"])) for ti in executed]
    running = [_seconds(_ts(ti["start_date"]), _ts(ti["end_date"])) for ti in executed]
    path = critical_path(tis, upstream)
    steps = []
    previous_end = None
    for ti in path:
        queued, start, end = _ts(ti["queued_when"]), _ts(ti["start_date"]), _ts(ti["end_date"])
        first = queued or start or end  # skipped and empty tasks were never queued
        steps.append(
            {
                "task_id": ti["task_id"],
                "gap_s": round(max(0.0, _seconds(previous_end, first)), 2) if previous_end else 0.0,
                "startup_s": round(_seconds(queued, start), 2) if queued and start else 0.0,
                "run_s": round(_seconds(start, end), 2) if start and end else 0.0,
            }
        )
        previous_end = end
    gaps, startups, runs = (sum(step[key] for step in steps) for key in ("gap_s", "startup_s", "run_s"))
    queued_times = [_ts(ti["queued_when"]) for ti in tis if ti.get("queued_when")]
    run_start = _ts(run.get("queued_at")) or _ts(run.get("start_date"))
    return {
        "run_id": run["dag_run_id"],
        "state": run["state"],
        "wall_s": round(wall, 2),
        "tasks": len(tis),
        "executed": len(executed),
        "skipped": sum(ti["state"] == "skipped" for ti in tis),
        "to_first_queued_s": round(_seconds(run_start, min(queued_times)), 2) if queued_times else None,
        "critical_path": steps,
        "path_executed": sum(1 for ti in path if ti.get("hostname")),
        "path_gaps_s": round(gaps, 2),
        "path_startup_s": round(startups, 2),
        "path_run_s": round(runs, 2),
        "startup_median_s": round(statistics.median(startup), 2) if startup else None,
        "run_median_s": round(statistics.median(running), 2) if running else None,
        "hosts": sorted({ti["hostname"] for ti in executed}),
    }


def bench_executor(executor: str, runs: int, sink: SlackSink, root: Path) -> dict:
    conn_json = json.dumps(
        {"conn_type": "postgres", "host": pg.HOST, "port": pg.PORT, "login": pg.SUPERUSER, "schema": LEADS_DB}
    )
    metadata_db = f"airflow_bench_{executor}"
    began = time.monotonic()
    results: dict[str, list[dict]] = {}
    with scheduler_harness.components(
        root / executor,
        metadata_db=metadata_db,
        sink_port=sink.port,
        executor=executor,
        extra_env={
            "AIRFLOW_CONN_LEADS_DB": conn_json,
            "AIRFLOW_CONN_SLACK_ALERTS": sink.connection_json(),
        },
    ) as stack:
        boot = time.monotonic() - began
        print(f"\n{executor}: components healthy after {boot:.0f} s (load {_load()})", flush=True)
        for dag_id, interval in DAGS.items():
            stack.api.unpause(dag_id)
            _, body = stack.api.call("GET", f"/api/v2/dags/{dag_id}/tasks")
            upstream: dict[str, list[str]] = {}
            for task in body["tasks"]:
                for down in task["downstream_task_ids"]:
                    upstream.setdefault(down, []).append(task["task_id"])
            results[dag_id] = []
            for i in range(runs):
                logical_date = NOW - interval * (runs - 1 - i)
                before = _active_ms((LEADS_DB, metadata_db))
                run, wall = stack.api.trigger_and_wait(dag_id, logical_date, timeout=300)
                time.sleep(1.0)  # backends flush their statistics at most once a second
                after = _active_ms((LEADS_DB, metadata_db))
                tis = stack.api.task_instances(dag_id, run["dag_run_id"])
                row = analyse(run, wall, tis, upstream)
                row["sql_leads_s"] = round((after.get(LEADS_DB, 0) - before.get(LEADS_DB, 0)) / 1000, 2)
                row["sql_metadata_s"] = round(
                    (after.get(metadata_db, 0) - before.get(metadata_db, 0)) / 1000, 2
                )
                row["load"] = _load()
                results[dag_id].append(row)
                print(
                    f"  {dag_id} #{i + 1}: {row['state']} in {row['wall_s']:.1f} s (first task queued after"
                    f" {row['to_first_queued_s']} s); {row['executed']} tasks"
                    f" executed, {row['skipped']} skipped; critical path {len(row['critical_path'])} tasks"
                    f" ({row['path_executed']} executed): gaps {row['path_gaps_s']:.1f} s, start-up"
                    f" {row['path_startup_s']:.1f} s, run {row['path_run_s']:.1f} s; SQL leads"
                    f" {row['sql_leads_s']:.2f} s, metadata {row['sql_metadata_s']:.2f} s (load {row['load']})",
                    flush=True,
                )
    return {"boot_s": round(boot, 1), "dags": results}


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def summary(report: dict) -> str:
    lines = [
        "",
        f"Scheduler bench: trigger -> success, median of {report['runs']} runs; {os.cpu_count()} cores;"
        f" load before {report['load_before']}, after {report['load_after']}",
        f"{'DAG':22} {'executor':8} {'median':>7} {'runs (s)':>17} {'tasks':>6} {'path':>5} {'gaps':>6}"
        f" {'start-up':>8} {'run':>6} {'per task':>14} {'SQL':>6}",
    ]
    for executor, result in report["executors"].items():
        for dag_id, rows in result["dags"].items():
            walls = [r["wall_s"] for r in rows]
            mid = sorted(rows, key=lambda r: r["wall_s"])[len(rows) // 2]  # the median run's breakdown
            lines.append(
                f"{dag_id:22} {executor:8} {statistics.median(walls):6.1f}s"
                f" {' '.join(f'{w:5.1f}' for w in walls):>17} {mid['executed']:6d}"
                f" {mid['path_executed']:5d} {mid['path_gaps_s']:5.1f}s {mid['path_startup_s']:7.1f}s"
                f" {mid['path_run_s']:5.1f}s {mid['startup_median_s']:5.2f}+{mid['run_median_s']:5.2f}s"
                f" {mid['sql_leads_s']:5.2f}s"
            )
    lines += [
        "  tasks: executed in a task process (skipped branches and empty tasks cost no process);",
        "  path: executed tasks on the critical path; gaps/start-up/run: its time between a task's",
        "  upstream ending and it being queued / from queued to running / from running to done;",
        "  per task: median start-up + run over all executed tasks; SQL: time the lead-nurture",
        "  database spent executing the run's statements (pg_stat_database.active_time).",
    ]
    local_5 = report["executors"].get("local", {}).get("dags", {}).get("nurture_alerts_5min")
    if local_5:
        median = statistics.median(r["wall_s"] for r in local_5)
        verdict = "met" if median <= TARGET_5MIN_SECONDS else "NOT met"
        lines.append(
            f"  target: nurture_alerts_5min <= {TARGET_5MIN_SECONDS:.0f} s under LocalExecutor:"
            f" {median:.1f} s, {verdict}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--executors", default="local,celery")
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    executors = [e.strip() for e in args.executors.split(",") if e.strip()]
    for executor in executors:
        if executor not in scheduler_harness.EXECUTORS:
            parser.error(
                f"unknown executor {executor!r}; choose from {', '.join(scheduler_harness.EXECUTORS)}"
            )

    was_running = pg.is_running()
    pg.start()
    report: dict = {"runs": args.runs, "load_before": _load(), "cores": os.cpu_count(), "executors": {}}
    with contextlib.ExitStack() as cleanup:
        if not was_running:
            cleanup.callback(pg.stop)
        cleanup.callback(_drop, LEADS_DB)
        pg.createdb(LEADS_DB, drop=True)
        with psycopg.connect(pg.dsn(LEADS_DB)) as conn:
            demo_seed.seed(conn, seed=42, now=NOW)
        root = Path(tempfile.mkdtemp(prefix="nurture-bench-scheduler-"))
        cleanup.callback(_rmtree, root)
        sink = SlackSink(port=0, jsonl_path=root / "slack.jsonl", quiet=True)
        sink.start()
        cleanup.callback(sink.stop)
        print(f"Scheduler bench: {', '.join(executors)}; load {report['load_before']}", flush=True)
        for executor in executors:
            report["executors"][executor] = bench_executor(executor, args.runs, sink, root)
        report["load_after"] = _load()
    print(summary(report))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n")
    print(f"  report: {args.report}")
    return 0


def _drop(name: str) -> None:
    from psycopg import sql

    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
