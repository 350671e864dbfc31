"""The tree shows the architecture, and tools keep it so.

- The import contracts in pyproject.toml ([tool.importlinter], run by `make lint`) hold for the
  package, and they *fail* when a DAG subpackage imports another (proved on a scratch copy).
- dags/ imports only what the subpackages export for it (their `__init__`), never a module
  inside them.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "plugins" / "nurture_ops"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
SUBPACKAGES = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
DAG_SUBPACKAGES = [
    "daily_health",
    "analytics_rollup",
    "weekly_review",
    "monthly_maintenance",
    "quarterly_audit",
    "annual_archive",
    "remediation_approval",
]


def _lint_imports(plugins_dir: Path, config_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(plugins_dir)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=config_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_dag_subpackage_is_under_contract():
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["id"]: c for c in config["contracts"]}
    independent = {
        m.removeprefix("nurture_ops.") for m in contracts["dag-subpackages-independent"]["modules"]
    }
    # The DAG subpackages and the UI plugin are siblings: none imports another.
    assert independent == set(DAG_SUBPACKAGES) | {"ops_page"}
    layered = {
        name.strip().removeprefix("nurture_ops.")
        for layer in contracts["layers"]["layers"]
        for name in layer.split("|")
    }
    assert set(SUBPACKAGES) <= layered, (
        f"subpackages outside the layers contract: {set(SUBPACKAGES) - layered}"
    )


def test_the_package_keeps_its_import_contracts():
    result = _lint_imports(REPO / "plugins", REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "offending_import", "broken"),
    [
        (
            "weekly_review/logic.py",
            "from nurture_ops.quarterly_audit import capacity",
            "never imports another",
        ),
        ("core/text.py", "from nurture_ops.alerting import notify", "alerting > integrations > core"),
        (
            "daily_health/report.py",
            "from nurture_ops.ops_page import queries",
            "never imports another",
        ),
        ("ops_page/queries.py", "from nurture_ops.weekly_review import logic", "ops_page imports only core"),
    ],
)
def test_a_forbidden_import_breaks_make_lint(tmp_path, module, offending_import, broken):
    """The contracts are not decoration: the same check `make lint` runs fails on a scratch copy
    where a DAG subpackage imports another, or core imports a layer above it."""
    plugins = tmp_path / "plugins"
    shutil.copytree(PACKAGE, plugins / "nurture_ops", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = plugins / "nurture_ops" / module
    target.write_text(target.read_text() + f"\n{offending_import}  # noqa\n")

    result = _lint_imports(plugins, tmp_path)

    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout and broken in result.stdout, result.stdout


def _nurture_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nurture_ops"):
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("nurture_ops")]
    return found


@pytest.mark.parametrize("dag_file", sorted((REPO / "dags").glob("*.py")), ids=lambda p: p.stem)
def test_dag_files_import_only_the_subpackages_public_entry_points(dag_file):
    for module in _nurture_imports(dag_file):
        parts = module.split(".")
        assert len(parts) == 2 and parts[1] in SUBPACKAGES, (
            f"{dag_file.name} imports {module}: DAG files import only a subpackage's exports "
            f"(e.g. `from nurture_ops.alerting import check_group`)"
        )
