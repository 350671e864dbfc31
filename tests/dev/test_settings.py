"""dev/settings.py: airflow_settings.yaml -> Airflow env vars and native import files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from airflow.models.connection import Connection
from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook
from airflow.secrets.environment_variables import EnvironmentVariablesBackend
from airflow.secrets.local_filesystem import load_connections_dict, load_variables

from dev import settings as dev_settings
from dev.settings import (
    ConnectionSetting,
    PoolSetting,
    SettingsError,
    connection_env,
    expand_env,
    load_settings,
    write_native,
)

REPO = Path(__file__).resolve().parents[2]
SETTINGS_FILE = REPO / "airflow_settings.yaml"
PORT_VARS = (
    "NURTURE_PG_PORT",
    "NURTURE_SLACK_SINK_PORT",
    "NURTURE_FAKE_N8N_PORT",
    "NURTURE_FAKE_PAGERDUTY_PORT",
    "NURTURE_FAKE_SENDGRID_PORT",
    "NURTURE_FAKE_SUPABASE_PORT",
)

EXPECTED_CONNECTIONS = [
    ConnectionSetting(
        conn_id="leads_db",
        conn_type="postgres",
        host="127.0.0.1",
        schema="nurture",
        login="postgres",
        port=54329,
    ),
    ConnectionSetting(
        conn_id="slack_alerts",
        conn_type="slackwebhook",
        host="http://127.0.0.1:8765/services",
        password="T000/B000/XXX",
    ),
    ConnectionSetting(
        conn_id="n8n_api",
        conn_type="http",
        host="http://127.0.0.1:5678",
        extra={"api_key": "local-dev-key"},
    ),
    ConnectionSetting(
        conn_id="pagerduty_events",
        conn_type="http",
        host="http://127.0.0.1:8766",
        password="local-routing-key",
    ),
    ConnectionSetting(
        conn_id="slack_escalation",
        conn_type="slackwebhook",
        host="http://127.0.0.1:8765/services",
        password="T000/B000/ESCALATION",
    ),
    ConnectionSetting(
        conn_id="sendgrid_api",
        conn_type="http",
        host="http://127.0.0.1:8767",
        extra={"api_key": "dev-sendgrid-key"},
    ),
    ConnectionSetting(conn_id="sendgrid_status", conn_type="http", host="http://127.0.0.1:8767"),
    ConnectionSetting(
        conn_id="supabase_api",
        conn_type="http",
        host="http://127.0.0.1:8768",
        extra={"api_key": "dev-supabase-token", "project_ref": "devprojectref"},
    ),
]
EXPECTED_VARIABLES = {"nurture_ops_thresholds": "{}", "nurture_ops_remediation": "{}"}


@pytest.fixture(autouse=True)
def no_port_overrides(monkeypatch):
    """The developer's shell must not move the defaults under the tests."""
    for name in PORT_VARS:
        monkeypatch.delenv(name, raising=False)


def write_yaml(tmp_path: Path, text: str, name: str = "airflow_settings.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def assert_same_connection(conn: Connection, expected: ConnectionSetting) -> None:
    assert conn.conn_id == expected.conn_id
    assert conn.conn_type == expected.conn_type
    assert conn.host == expected.host
    assert conn.schema == expected.schema
    assert conn.login == expected.login
    assert conn.password == expected.password
    assert conn.port == expected.port
    assert conn.extra_dejson == expected.extra


def test_repo_settings_hold_the_local_defaults():
    settings = load_settings(SETTINGS_FILE)
    assert settings.source == SETTINGS_FILE
    assert settings.connections == EXPECTED_CONNECTIONS
    assert settings.pools == [
        PoolSetting(name="leads_db", slots=4, description="queries against the lead-nurture database")
    ]
    assert settings.variables == EXPECTED_VARIABLES


def test_native_files_round_trip_through_airflows_parsers(tmp_path):
    settings = load_settings(SETTINGS_FILE)
    paths = write_native(settings, tmp_path / "native")
    assert list(paths) == ["connections", "variables", "pools"]

    connections = load_connections_dict(str(paths["connections"]))
    assert list(connections) == [
        "leads_db",
        "slack_alerts",
        "n8n_api",
        "pagerduty_events",
        "slack_escalation",
        "sendgrid_api",
        "sendgrid_status",
        "supabase_api",
    ]
    for expected in EXPECTED_CONNECTIONS:
        assert_same_connection(connections[expected.conn_id], expected)

    assert load_variables(str(paths["variables"])) == EXPECTED_VARIABLES
    # `airflow pools import` needs "slots" and "description" per pool (pool_import_helper).
    assert json.loads(paths["pools"].read_text()) == {
        "leads_db": {
            "slots": 4,
            "description": "queries against the lead-nurture database",
            "include_deferred": False,
        }
    }


def test_env_form_parses_with_airflows_env_backend(monkeypatch):
    env = connection_env(load_settings(SETTINGS_FILE))
    assert sorted(env) == [
        "AIRFLOW_CONN_LEADS_DB",
        "AIRFLOW_CONN_N8N_API",
        "AIRFLOW_CONN_PAGERDUTY_EVENTS",
        "AIRFLOW_CONN_SENDGRID_API",
        "AIRFLOW_CONN_SENDGRID_STATUS",
        "AIRFLOW_CONN_SLACK_ALERTS",
        "AIRFLOW_CONN_SLACK_ESCALATION",
        "AIRFLOW_CONN_SUPABASE_API",
        "AIRFLOW_VAR_NURTURE_OPS_REMEDIATION",
        "AIRFLOW_VAR_NURTURE_OPS_THRESHOLDS",
    ]
    assert json.loads(env["AIRFLOW_CONN_LEADS_DB"]) == {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "schema": "nurture",
        "login": "postgres",
        "port": 54329,
    }
    for expected in EXPECTED_CONNECTIONS:
        value = env[f"AIRFLOW_CONN_{expected.conn_id.upper()}"]
        assert_same_connection(Connection.from_json(value, conn_id=expected.conn_id), expected)

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    backend = EnvironmentVariablesBackend()
    for expected in EXPECTED_CONNECTIONS:
        assert_same_connection(backend.get_connection(expected.conn_id), expected)
    for name, value in EXPECTED_VARIABLES.items():
        assert backend.get_variable(name) == value


def test_env_overrides_move_the_ports(monkeypatch):
    monkeypatch.setenv("NURTURE_PG_PORT", "6543")
    monkeypatch.setenv("NURTURE_SLACK_SINK_PORT", "9876")
    monkeypatch.setenv("NURTURE_FAKE_N8N_PORT", "15678")
    settings = load_settings(SETTINGS_FILE)
    assert settings.connection("leads_db").port == 6543
    assert settings.connection("slack_alerts").host == "http://127.0.0.1:9876/services"
    assert settings.connection("n8n_api").host == "http://127.0.0.1:15678"


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("${PORT:-54329}", {}, "54329"),
        ("${PORT:-54329}", {"PORT": "6000"}, "6000"),
        ("${PORT:-54329}", {"PORT": ""}, "54329"),
        ("${PORT}", {"PORT": "6000"}, "6000"),
        ("${PORT}", {"PORT": ""}, ""),
        ("http://${HOST:-127.0.0.1}:${PORT:-1}/x", {"PORT": "2"}, "http://127.0.0.1:2/x"),
        ("${URL:-http://a:1/b}", {}, "http://a:1/b"),
        ("pa$$${word}", {}, "pa$${word}"),
        ("price $5 and $HOME stay", {}, "price $5 and $HOME stay"),
    ],
)
def test_expand_env(text, environ, expected):
    assert expand_env(text, environ) == expected


def test_expansion_applies_to_every_string_and_converts_numbers(tmp_path, monkeypatch):
    path = write_yaml(
        tmp_path,
        """\
        airflow:
          connections:
            - conn_id: warehouse
              conn_type: postgres
              conn_host: ${T_HOST:-127.0.0.1}
              conn_port: ${T_PORT:-5432}
              conn_login: ${T_USER}
              conn_extra:
                sslmode: ${T_SSL:-disable}
          pools:
            - pool_name: warehouse
              pool_slot: ${T_SLOTS:-2}
          variables:
            - variable_name: greeting
              variable_value: hello ${T_USER}
            - variable_name: structured
              variable_value: {a: 1, b: [x, y]}
        """,
    )
    monkeypatch.setenv("T_USER", "etl")
    monkeypatch.setenv("T_PORT", "15432")
    monkeypatch.setenv("T_SLOTS", "7")
    settings = load_settings(path)
    assert settings.connections == [
        ConnectionSetting(
            conn_id="warehouse",
            conn_type="postgres",
            host="127.0.0.1",
            login="etl",
            port=15432,
            extra={"sslmode": "disable"},
        )
    ]
    assert settings.pools == [PoolSetting(name="warehouse", slots=7, description="")]
    assert settings.variables == {"greeting": "hello etl", "structured": '{"a": 1, "b": ["x", "y"]}'}

    monkeypatch.delenv("T_USER")
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    assert str(path) in str(err.value)
    assert "airflow.connections[0] (conn_id 'warehouse')" in str(err.value)
    assert "T_USER is not set" in str(err.value)


def test_astronomer_template_placeholders_are_skipped(tmp_path):
    path = write_yaml(
        tmp_path,
        """\
        airflow:
          connections:
            - conn_id:
              conn_type:
              conn_host:
              conn_schema:
              conn_login:
              conn_password:
              conn_port:
              conn_extra:
                example_extra_field:
          pools:
            - pool_name:
              pool_slot:
              pool_description:
          variables:
            - variable_name:
              variable_value:
        """,
    )
    settings = load_settings(path)
    assert (settings.connections, settings.pools, settings.variables) == ([], [], {})

    # A half-filled item is not a placeholder: it must name its conn_id.
    path.write_text(path.read_text().replace("example_extra_field:", "example_extra_field: x"))
    with pytest.raises(SettingsError, match=r"airflow.connections\[0\]: conn_id is required"):
        load_settings(path)


BAD_FILES = {
    "unknown-top-level": ("airflow: {}\nairflw: {}\n", "unknown top-level key(s) airflw"),
    "unknown-section": ("airflow:\n  conections: []\n", "unknown key(s) under airflow: conections"),
    "not-a-mapping": ("- conn_id: x\n", "the top level must be a mapping"),
    "section-not-list": ("airflow:\n  pools: {a: 1}\n", "airflow.pools must be a list"),
    "missing-conn-type": (
        "airflow:\n  connections:\n    - conn_id: leads_db\n      conn_host: localhost\n",
        "airflow.connections[0] (conn_id 'leads_db'): conn_type is required",
    ),
    "missing-conn-id": (
        "airflow:\n  connections:\n    - {conn_id: a, conn_type: http}\n    - conn_type: http\n",
        "airflow.connections[1]: conn_id is required",
    ),
    "typo-in-key": (
        "airflow:\n  connections:\n    - {conn_id: a, conn_type: http, conn_hots: x}\n",
        "airflow.connections[0] (conn_id 'a'): unknown key(s) conn_hots",
    ),
    "bad-port": (
        "airflow:\n  connections:\n    - {conn_id: a, conn_type: http, conn_port: eighty}\n",
        "conn_port must be an integer, got 'eighty'",
    ),
    "bad-extra": (
        "airflow:\n  connections:\n    - {conn_id: a, conn_type: http, conn_extra: '{oops'}\n",
        "conn_extra is not valid JSON",
    ),
    "duplicate-conn": (
        "airflow:\n  connections:\n    - {conn_id: a, conn_type: http}\n    - {conn_id: a, conn_type: x}\n",
        "connection 'a' is defined more than once",
    ),
    "pool-without-slots": (
        "airflow:\n  pools:\n    - {pool_name: p, pool_description: d}\n",
        "airflow.pools[0] (pool_name 'p'): pool_slot is required",
    ),
    "variable-without-name": (
        "airflow:\n  variables:\n    - {variable_value: x}\n",
        "airflow.variables[0]: variable_name is required",
    ),
    "invalid-yaml": ("airflow:\n  connections: [\n", "not valid YAML"),
}


@pytest.mark.parametrize(("text", "message"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_files_are_rejected_naming_file_and_item(tmp_path, text, message):
    path = write_yaml(tmp_path, text, name="broken_settings.yaml")
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_missing_file_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "nope.yaml")


def test_cli_env_output_survives_a_shell_eval(tmp_path):
    path = write_yaml(
        tmp_path,
        """\
        airflow:
          connections:
            - conn_id: tricky
              conn_type: http
              conn_password: "it's $HOME; `rm -rf` \\"quoted\\""
          variables:
            - variable_name: nurture_ops_thresholds
              variable_value: '{"max_bounce_rate": 0.05}'
        """,
    )
    exports = subprocess.run(
        [sys.executable, "-m", "dev.settings", "env", "--file", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert (
        exports.splitlines()[1] == """export AIRFLOW_VAR_NURTURE_OPS_THRESHOLDS='{"max_bounce_rate": 0.05}'"""
    )
    script = 'eval "$1" && printf "%s\\n%s" "$AIRFLOW_CONN_TRICKY" "$AIRFLOW_VAR_NURTURE_OPS_THRESHOLDS"'
    shell = subprocess.run(
        ["bash", "-c", script, "_", exports],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split("\n")
    assert json.loads(shell[0]) == {"conn_type": "http", "password": 'it\'s $HOME; `rm -rf` "quoted"'}
    assert shell[1] == '{"max_bounce_rate": 0.05}'


def test_cli_reports_a_bad_file(tmp_path, capsys):
    path = write_yaml(tmp_path, "airflow:\n  conections: []\n")
    assert dev_settings.main(["env", "--file", str(path)]) == 2
    assert f"error: {path}: unknown key(s) under airflow: conections" in capsys.readouterr().err


def test_settings_env_drives_a_slack_hook_to_the_sink(slack_sink, monkeypatch):
    """airflow_settings.yaml + env form + SlackWebhookHook + the sink all agree on the webhook URL."""
    monkeypatch.setenv("NURTURE_SLACK_SINK_PORT", str(slack_sink.port))
    env = connection_env(load_settings(SETTINGS_FILE))
    assert json.loads(env["AIRFLOW_CONN_SLACK_ALERTS"]) == json.loads(slack_sink.connection_json())
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", env["AIRFLOW_CONN_SLACK_ALERTS"])

    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*leads_db* reachable"}}]
    SlackWebhookHook(slack_webhook_conn_id="slack_alerts").send(text="settings smoke test", blocks=blocks)

    assert slack_sink.payloads() == [{"text": "settings smoke test", "blocks": blocks}]
    [line] = slack_sink.jsonl_path.read_text().splitlines()
    record = json.loads(line)
    assert record["path"] == "/services/T000/B000/XXX"
    assert record["payload"] == {"text": "settings smoke test", "blocks": blocks}


def test_cli_import_loads_everything_into_a_fresh_airflow(tmp_path):
    """`python -m dev.settings import` against a throwaway AIRFLOW_HOME, read back by Airflow (~13 s)."""
    home = tmp_path / "airflow-home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW_", "AIRFLOW__")) and key not in PORT_VARS
    }
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="ERROR",
    )
    airflow = dev_settings.airflow_executable()

    def run(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)

    migrated = run(airflow, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    imported = run(sys.executable, "-m", "dev.settings", "import")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "Imported connection slack_alerts" in imported.stdout

    dump = run(
        sys.executable,
        "-c",
        textwrap.dedent(
            """\
            import json
            from airflow.models.connection import Connection
            from airflow.models.pool import Pool
            from airflow.models.variable import Variable
            conns = {c: Connection.get_connection_from_secrets(c).to_dict()
                     for c in ("leads_db", "slack_alerts", "n8n_api", "pagerduty_events", "slack_escalation",
                               "sendgrid_api", "sendgrid_status", "supabase_api")}
            pools = {p.pool: [p.slots, p.description] for p in Pool.get_pools()}
            variables = {k: Variable.get(k) for k in ("nurture_ops_thresholds", "nurture_ops_remediation")}
            print(json.dumps({"connections": conns, "pools": pools, "variables": variables}))
            """
        ),
    )
    assert dump.returncode == 0, dump.stderr
    stored = json.loads(dump.stdout.strip().splitlines()[-1])
    for expected in EXPECTED_CONNECTIONS:
        got = stored["connections"][expected.conn_id]
        assert (got["conn_type"], got["host"], got["schema"], got["login"], got["password"], got["port"]) == (
            expected.conn_type,
            expected.host,
            expected.schema,
            expected.login,
            expected.password,
            expected.port,
        )
        assert got["extra"] == expected.extra
    assert stored["pools"]["leads_db"] == [4, "queries against the lead-nurture database"]
    assert stored["variables"] == EXPECTED_VARIABLES
