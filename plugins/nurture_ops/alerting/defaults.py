"""What every DAG of the package shares: owner, tags, task defaults (retries, the Slack failure
callback), a static start date, and `dag_settings` that puts them together so a DAG file states
only what is its own (id, schedule, budget, tags, docs).

Time budgets. A run that hits its `dagrun_timeout` marks its unfinished tasks skipped with no
task callback (and the DAG-level failure callback is unreliable in Airflow 3): a slow database
would then page nobody. So every DAG states a `Budget` and every task gets its share of it:

    execution_timeout   per try: Airflow fails the try past it (AirflowTaskTimeout), the
                        failure callback posts to Slack
    retries, delay      all tries of a task, with the delays between them, end before the run's
                        dagrun_timeout: (retries + 1) x execution_timeout + retries x retry_delay
                        <= dagrun_timeout, checked when the DAG file is parsed
    statement timeout   a third of a try, at most the database default (120 s): a slow statement
                        fails the try with the database's own clear error ("canceling statement
                        due to statement timeout") while the connect (<= 10 s), the task's other
                        statements and its Slack post still fit in the try

The check tasks (alerting.groups) read the statement timeout from their own execution_timeout
when they run (`statement_timeout_ms`), so a task given another execution_timeout keeps a
statement timeout that fits in it. Tasks with a longer statement of their own (the monthly
REINDEX, the annual archive: 1 h) get a try long enough for it from their DAG's budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nurture_ops.alerting import notify

OWNER = "nurture-ops"


ALLOWED_TAGS = {
    "nurture",
    "alerts",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "annual",
    "analytics",
    "maintenance",
}
ALLOWED_TAGS.add("remediation")  # nurture_remediation_approval

# core.db.connect()'s default statement timeout: the longest a check statement may take.
MAX_STATEMENT_TIMEOUT = timedelta(seconds=120)
# The share of a try a check statement may take (see the module docstring).
STATEMENT_SHARE = 3


def statement_timeout_for(execution_timeout: timedelta | None) -> timedelta:
    """The database statement timeout of a check task whose try may take `execution_timeout`:
    a third of it, at most MAX_STATEMENT_TIMEOUT (also when the task has no execution_timeout)."""
    if execution_timeout is None:
        return MAX_STATEMENT_TIMEOUT
    return min(execution_timeout / STATEMENT_SHARE, MAX_STATEMENT_TIMEOUT)


def statement_timeout_ms(task) -> int:
    """statement_timeout_for the task's own execution_timeout, in ms (for db.connect)."""
    return int(statement_timeout_for(getattr(task, "execution_timeout", None)).total_seconds() * 1000)


@dataclass(frozen=True)
class Budget:
    """A DAG's time budget: its run timeout and what one task may take (see the module docstring).

    Invalid when a task's tries and the delays between them could outlast the run:
    `dag_settings` raises then, so the DAG file does not load (an import error the DagBag tests
    report)."""

    dagrun_timeout: timedelta
    execution_timeout: timedelta
    retries: int
    retry_delay: timedelta

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.execution_timeout <= timedelta(0):
            raise ValueError(f"execution_timeout must be positive, got {self.execution_timeout}")
        if self.worst_case > self.dagrun_timeout:
            raise ValueError(
                f"{self.retries + 1} tries of {self.execution_timeout} and {self.retries} delays of "
                f"{self.retry_delay} take up to {self.worst_case}, longer than dagrun_timeout "
                f"{self.dagrun_timeout}: a run would time out with its tasks skipped and nobody paged"
            )

    @property
    def worst_case(self) -> timedelta:
        """The longest a task may take: every try to its execution_timeout, every retry delay."""
        return (self.retries + 1) * self.execution_timeout + self.retries * self.retry_delay

    @property
    def statement_timeout(self) -> timedelta:
        """The statement timeout of the DAG's check tasks (statement_timeout_for)."""
        return statement_timeout_for(self.execution_timeout)


def default_args(**overrides) -> dict:
    """Task defaults for every DAG: owner, retries, and the Slack failure callback."""
    return {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "on_failure_callback": notify.task_failure_callback,
        **overrides,
    }


def utc(year: int, month: int, day: int) -> datetime:
    """A static start_date for DAG files."""
    return datetime(year, month, day, tzinfo=UTC)


START_DATE = datetime(2026, 1, 1, tzinfo=UTC)


def dag_settings(
    description: str,
    *,
    dagrun_timeout: timedelta,
    execution_timeout: timedelta,
    retries: int,
    retry_delay: timedelta,
    tags: list[str],
    doc_md: str,
    **overrides,
) -> dict:
    """Keyword arguments for `DAG(dag_id, schedule=..., **dag_settings(...))`: the package's
    defaults (start date, no catchup, one run at a time, default_args, the "nurture" tag) under the
    DAG's own settings; `overrides` win.

    The budget (`dagrun_timeout`, and per task `execution_timeout` per try, `retries`,
    `retry_delay`) is checked (`Budget`) and becomes the tasks' default_args."""
    budget = Budget(dagrun_timeout, execution_timeout, retries, retry_delay)
    return {
        "description": description,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "dagrun_timeout": budget.dagrun_timeout,
        "default_args": default_args(
            execution_timeout=budget.execution_timeout,
            retries=budget.retries,
            retry_delay=budget.retry_delay,
        ),
        "tags": ["nurture", *tags],
        "doc_md": doc_md,
        **overrides,
    }
