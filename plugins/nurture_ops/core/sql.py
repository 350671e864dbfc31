"""Loads and renders the SQL files under include/sql/.

Jinja is for identifiers (schema and table names); values, dates included, are bound by the
driver: `{{ bind("window_start") }}` renders to `%(window_start)s`. Files are read when a task
runs, never at DAG-parse time.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import jinja2

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # plugins/nurture_ops


def _dags_folder() -> Path | None:
    """Airflow's configured DAGs folder (read at task run time, never at parse time)."""
    try:
        from airflow.sdk.configuration import conf

        return Path(conf.get("core", "dags_folder"))
    except Exception:  # outside Airflow (plain scripts, tests): fall back to the environment
        folder = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
        return Path(folder) if folder else None


def sql_root() -> Path:
    """include/sql of this deployment.

    NURTURE_OPS_SQL_DIR wins; otherwise include/sql beside plugins/ (Astronomer, the Helm chart,
    this repo), else inside or beside the DAGs folder (MWAA and Composer ship only dags/ as a
    folder).
    """
    if os.environ.get("NURTURE_OPS_SQL_DIR"):
        return Path(os.environ["NURTURE_OPS_SQL_DIR"])
    candidates = [PACKAGE_DIR.parent.parent / "include" / "sql"]
    dags_folder = _dags_folder()
    if dags_folder is not None:
        candidates += [dags_folder / "include" / "sql", dags_folder.parent / "include" / "sql"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "include/sql not found; looked in "
        + ", ".join(str(c) for c in candidates)
        + ". Deploy include/ beside plugins/ or set NURTURE_OPS_SQL_DIR."
    )


def _bind(name: str) -> str:
    return f"%({name})s"


@lru_cache(maxsize=1)
def _environment(root: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(root),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.globals["bind"] = _bind
    return env


def render(name: str, **context) -> str:
    """Render include/sql/<name> with Jinja context (identifiers only)."""
    return _environment(str(sql_root())).get_template(name).render({"schema": "nurture_ops", **context})
