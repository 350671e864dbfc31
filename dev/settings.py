"""Local Airflow connections, pools and variables from airflow_settings.yaml (Astronomer's format).

    python -m dev.settings env    [--file F]   # prints `export AIRFLOW_CONN_...='...'` lines
    python -m dev.settings import [--file F]   # airflow connections/variables/pools import
    python -m dev.settings write  [--file F] --out DIR   # only writes the native import files

The Airflow CLI cannot read airflow_settings.yaml (`connections import` rejects its keys,
`variables import` stores the whole file as one variable, `pools import` wants JSON), so this
module converts it: to AIRFLOW_CONN_<ID> / AIRFLOW_VAR_<NAME> environment variables (the JSON
connection form, which keeps the port of an http:// host, unlike the URI form of slackwebhook),
or to the native files `airflow connections import`, `airflow variables import` and
`airflow pools import` accept. Pools have no environment form: only `import` creates them.

String values may contain ${ENV_NAME:-default} (default used when ENV_NAME is unset or empty) or
${ENV_NAME} (ENV_NAME must be set); write $${ for a literal ${. conn_port and pool_slot may be
numeric strings after expansion. Items whose fields are all empty (Astronomer's template) are
skipped; anything else unexpected is an error naming the file and the item.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_FILE = REPO / "airflow_settings.yaml"

SECTIONS = ("connections", "pools", "variables")
CONNECTION_KEYS = (
    "conn_id",
    "conn_type",
    "conn_host",
    "conn_schema",
    "conn_login",
    "conn_password",
    "conn_port",
    "conn_extra",
)
POOL_KEYS = ("pool_name", "pool_slot", "pool_description")
VARIABLE_KEYS = ("variable_name", "variable_value")

_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class SettingsError(ValueError):
    """airflow_settings.yaml is malformed; the message names the file and the item."""


@dataclass(frozen=True)
class ConnectionSetting:
    conn_id: str
    conn_type: str
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def airflow_json(self) -> dict[str, Any]:
        """Airflow's JSON connection form (AIRFLOW_CONN_* value), empty fields left out."""
        form: dict[str, Any] = {"conn_type": self.conn_type}
        for key in ("host", "schema", "login", "password", "port"):
            value = getattr(self, key)
            if value is not None:
                form[key] = value
        if self.extra:
            form["extra"] = self.extra
        return form


@dataclass(frozen=True)
class PoolSetting:
    name: str
    slots: int
    description: str = ""


@dataclass
class Settings:
    source: Path
    connections: list[ConnectionSetting] = field(default_factory=list)
    pools: list[PoolSetting] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)

    def connection(self, conn_id: str) -> ConnectionSetting:
        for conn in self.connections:
            if conn.conn_id == conn_id:
                return conn
        raise KeyError(conn_id)


# -- loading ---------------------------------------------------------------------------------------


def expand_env(value: str, environ: Mapping[str, str] | None = None, where: str = "value") -> str:
    """Replace ${NAME:-default} / ${NAME} in `value` from `environ` (default: os.environ)."""
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        current = env.get(name)
        if default is not None:
            return current if current else default
        if current is None:
            raise SettingsError(
                f"{where}: environment variable {name} is not set (write ${{{name}:-default}})"
            )
        return current

    return _ENV_REF.sub(substitute, value)


def _expand_tree(value: Any, environ: Mapping[str, str] | None, where: str) -> Any:
    if isinstance(value, str):
        return expand_env(value, environ, where)
    if isinstance(value, list):
        return [_expand_tree(item, environ, where) for item in value]
    if isinstance(value, dict):
        return {key: _expand_tree(item, environ, where) for key, item in value.items()}
    return value


def _text(value: Any, where: str, key: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SettingsError(f"{where}: {key} must be a string, got {type(value).__name__}")
    return str(value)


def _integer(value: Any, where: str, key: str, required: bool) -> int | None:
    if value is None or value == "":
        if required:
            raise SettingsError(f"{where}: {key} is required")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise SettingsError(f"{where}: {key} must be an integer, got {value!r}")


def _extra(value: Any, where: str) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise SettingsError(f"{where}: conn_extra is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{where}: conn_extra must be a mapping or a JSON object")
    return value


def _is_empty(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_is_empty(item) for item in value.values())
    return value is None or value == ""


def _items(section: str, raw: Any, keys: tuple[str, ...], source: Path) -> list[tuple[str, dict[str, Any]]]:
    """The non-placeholder items of a section, each with a label for error messages."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SettingsError(f"{source}: airflow.{section} must be a list, got {type(raw).__name__}")
    items = []
    for index, item in enumerate(raw):
        where = f"{source}: airflow.{section}[{index}]"
        if not isinstance(item, dict):
            raise SettingsError(f"{where} must be a mapping, got {type(item).__name__}")
        name = item.get(keys[0])
        if name:
            where += f" ({keys[0]} {name!r})"
        unknown = sorted(set(item) - set(keys))
        if unknown:
            raise SettingsError(
                f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(keys)}"
            )
        if _is_empty(item):
            continue  # Astronomer's template entry with every field empty
        items.append((where, item))
    return items


def _unique(kind: str, names: list[str], source: Path) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise SettingsError(f"{source}: {kind} {name!r} is defined more than once")
        seen.add(name)


def parse_settings(data: Any, source: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Validate a parsed airflow_settings.yaml document and build Settings (env expanded)."""
    if data is None:
        return Settings(source=source)
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: the top level must be a mapping with an `airflow:` key")
    unknown = sorted(map(str, set(data) - {"airflow"}))
    if unknown:
        raise SettingsError(
            f"{source}: unknown top-level key(s) {', '.join(unknown)}; only `airflow` is allowed"
        )
    body = data.get("airflow") or {}
    if not isinstance(body, dict):
        raise SettingsError(f"{source}: `airflow` must be a mapping of {', '.join(SECTIONS)}")
    unknown = sorted(map(str, set(body) - set(SECTIONS)))
    if unknown:
        raise SettingsError(
            f"{source}: unknown key(s) under airflow: {', '.join(unknown)}; allowed: {', '.join(SECTIONS)}"
        )

    settings = Settings(source=source)
    for where, item in _items("connections", body.get("connections"), CONNECTION_KEYS, source):
        item = _expand_tree(item, environ, where)
        conn_id = _text(item.get("conn_id"), where, "conn_id")
        conn_type = _text(item.get("conn_type"), where, "conn_type")
        if not conn_id:
            raise SettingsError(f"{where}: conn_id is required")
        if not conn_type:
            raise SettingsError(f"{where}: conn_type is required")
        settings.connections.append(
            ConnectionSetting(
                conn_id=conn_id,
                conn_type=conn_type,
                host=_text(item.get("conn_host"), where, "conn_host"),
                schema=_text(item.get("conn_schema"), where, "conn_schema"),
                login=_text(item.get("conn_login"), where, "conn_login"),
                password=_text(item.get("conn_password"), where, "conn_password"),
                port=_integer(item.get("conn_port"), where, "conn_port", required=False),
                extra=_extra(item.get("conn_extra"), where),
            )
        )
    for where, item in _items("pools", body.get("pools"), POOL_KEYS, source):
        item = _expand_tree(item, environ, where)
        name = _text(item.get("pool_name"), where, "pool_name")
        if not name:
            raise SettingsError(f"{where}: pool_name is required")
        slots = _integer(item.get("pool_slot"), where, "pool_slot", required=True)
        description = _text(item.get("pool_description"), where, "pool_description") or ""
        settings.pools.append(PoolSetting(name=name, slots=slots, description=description))
    variable_names = []
    for where, item in _items("variables", body.get("variables"), VARIABLE_KEYS, source):
        item = _expand_tree(item, environ, where)
        name = _text(item.get("variable_name"), where, "variable_name")
        if not name:
            raise SettingsError(f"{where}: variable_name is required")
        value = item.get("variable_value")
        if value is None:
            value = ""
        elif not isinstance(value, str):
            value = json.dumps(value)  # a YAML mapping/list/number is stored as its JSON text
        variable_names.append(name)
        settings.variables[name] = value

    _unique("connection", [conn.conn_id for conn in settings.connections], source)
    _unique("pool", [pool.name for pool in settings.pools], source)
    _unique("variable", variable_names, source)
    return settings


def load_settings(path: Path | str = DEFAULT_FILE, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate an airflow_settings.yaml; raises SettingsError naming file and item."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"{source}: cannot read ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{source}: not valid YAML: {exc}") from None
    return parse_settings(data, source, environ)


# -- output forms ----------------------------------------------------------------------------------


def connection_env(settings: Settings) -> dict[str, str]:
    """AIRFLOW_CONN_<CONN_ID> -> JSON connection, AIRFLOW_VAR_<NAME> -> value."""
    env = {}
    for conn in settings.connections:
        env[f"AIRFLOW_CONN_{conn.conn_id.upper()}"] = json.dumps(conn.airflow_json())
    for name, value in settings.variables.items():
        env[f"AIRFLOW_VAR_{name.upper()}"] = value
    return env


def native_connections(settings: Settings) -> dict[str, dict[str, Any]]:
    """The JSON `airflow connections export` writes and `airflow connections import` reads."""
    return {
        conn.conn_id: {
            "conn_type": conn.conn_type,
            "description": None,
            "login": conn.login,
            "password": conn.password,
            "host": conn.host,
            "port": conn.port,
            "schema": conn.schema,
            "extra": json.dumps(conn.extra) if conn.extra else None,
        }
        for conn in settings.connections
    }


def native_pools(settings: Settings) -> dict[str, dict[str, Any]]:
    """The JSON `airflow pools import` reads."""
    return {
        pool.name: {"slots": pool.slots, "description": pool.description, "include_deferred": False}
        for pool in settings.pools
    }


def write_native(settings: Settings, folder: Path | str) -> dict[str, Path]:
    """Write connections.json, variables.json and pools.json into `folder`; returns kind -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    contents = {
        "connections": native_connections(settings),
        "variables": dict(settings.variables),
        "pools": native_pools(settings),
    }
    paths = {}
    for kind, content in contents.items():
        path = folder / f"{kind}.json"
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        paths[kind] = path
    return paths


def shell_exports(env: Mapping[str, str]) -> str:
    """`export K='V'` lines (single-quoted, safe to eval in sh/bash/zsh)."""
    lines = []
    for key, value in env.items():
        quoted = "'" + value.replace("'", "'\"'\"'") + "'"
        lines.append(f"export {key}={quoted}")
    return "\n".join(lines) + ("\n" if lines else "")


def airflow_executable() -> str:
    """The `airflow` next to this interpreter (the project venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "airflow"
    if beside.exists():
        return str(beside)
    found = shutil.which("airflow")
    if not found:
        raise SettingsError("cannot find the `airflow` command (install the project venv first)")
    return found


def import_commands(paths: Mapping[str, Path], airflow: str) -> list[list[str]]:
    return [
        [airflow, "connections", "import", "--overwrite", str(paths["connections"])],
        [airflow, "variables", "import", "-a", "overwrite", str(paths["variables"])],
        [airflow, "pools", "import", str(paths["pools"])],
    ]


def import_into_airflow(settings: Settings, airflow: str | None = None) -> int:
    """Run the three `airflow ... import` commands against $AIRFLOW_HOME; returns the first failing rc."""
    airflow = airflow or airflow_executable()
    if not os.environ.get("AIRFLOW_HOME"):
        print("note: AIRFLOW_HOME is not set, so Airflow uses ~/airflow", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="nurture-settings-") as folder:
        paths = write_native(settings, folder)
        for cmd in import_commands(paths, airflow):
            print("+ airflow " + " ".join(cmd[1:]), flush=True)
            result = subprocess.run(cmd)
            if result.returncode != 0:
                print(
                    f"error: `{' '.join(cmd[1:3])} import` exited with {result.returncode}", file=sys.stderr
                )
                return result.returncode
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.settings", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("env", "print export lines for AIRFLOW_CONN_* / AIRFLOW_VAR_*"),
        ("import", "import connections, variables and pools with the airflow CLI"),
        ("write", "write connections.json, variables.json, pools.json"),
    ):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--file", type=Path, default=DEFAULT_FILE, help="default: %(default)s")
        if name == "write":
            command.add_argument("--out", type=Path, required=True, help="folder for the JSON files")
    args = parser.parse_args(argv)

    try:
        settings = load_settings(args.file)
        if args.command == "env":
            sys.stdout.write(shell_exports(connection_env(settings)))
            return 0
        if args.command == "write":
            for path in write_native(settings, args.out).values():
                print(path)
            return 0
        return import_into_airflow(settings)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
