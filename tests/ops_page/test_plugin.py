"""The plugin as Airflow discovers it, loading it does nothing but build the app, and the SVG charts."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta

from nurture_ops.core.catalog import CHECKS
from nurture_ops.ops_page import queries
from nurture_ops.ops_page.charts import line_chart
from tests.conftest import REPO

LOAD_PLUGINS = r"""
import json, sys
from unittest import mock
import psycopg
from airflow.sdk import BaseHook, Variable
from airflow._shared.plugins_manager import _load_plugins_from_plugin_directory
touched = []
with (
    mock.patch.object(BaseHook, "get_connection", side_effect=lambda *a: touched.append("connection")),
    mock.patch.object(Variable, "get", side_effect=lambda *a, **k: touched.append("variable")),
    mock.patch.object(psycopg, "connect", side_effect=lambda *a, **k: touched.append("database")),
    mock.patch("nurture_ops.core.sql.sql_root", side_effect=lambda: touched.append("sql file")),
):
    plugins, errors = _load_plugins_from_plugin_directory(plugins_folder=sys.argv[1])
print(json.dumps({
    "plugins": [p.name for p in plugins],
    "errors": errors,
    "touched": touched,
    "apps": [{k: v for k, v in a.items() if k != "app"} for p in plugins for a in p.fastapi_apps],
    "views": [v for p in plugins for v in p.external_views],
}))
"""


def test_airflow_finds_the_plugin_in_the_plugins_folder_and_loading_it_touches_nothing():
    out = subprocess.run(
        [sys.executable, "-c", LOAD_PLUGINS, str(REPO / "plugins")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded["plugins"] == ["nurture_ops_page"]  # nurture_ops/ itself is .airflowignore'd
    assert loaded["errors"] == {}
    assert loaded["touched"] == []
    assert loaded["apps"] == [{"url_prefix": "/nurture-ops", "name": "Lead Nurture"}]
    assert loaded["views"] == [
        {"name": "Lead Nurture", "href": "/nurture-ops/", "destination": "nav", "url_route": "lead-nurture"}
    ]


def test_the_ui_lists_the_page_in_its_navigation(admin):
    """The api-server's own plugins endpoint (what the UI builds its navigation from)."""
    body = admin.get("/api/v2/plugins").json()
    views = [v for p in body["plugins"] if p["name"] == "nurture_ops_page" for v in p["external_views"]]
    assert [(v["name"], v["href"], v["destination"], v["url_route"]) for v in views] == [
        ("Lead Nurture", "/nurture-ops/", "nav", "lead-nurture")
    ]


def test_every_alert_cadence_has_its_dag(dagbag):
    # Checks with an alert state; a "report" check (the weekly deliverability KPI) lives in its report.
    cadences = {c.cadence for c in CHECKS.values() if c.role != "report"}
    assert cadences <= set(queries.ALERT_DAG_IDS)
    assert set(queries.ALERT_DAG_IDS.values()) <= set(dagbag.dag_ids)


START = date(2026, 6, 1)


def test_a_chart_draws_each_run_of_days_and_the_levels():
    points = [
        {"day": START, "value": 10},
        {"day": START + timedelta(days=1), "value": 20},
        {"day": START + timedelta(days=2), "value": None},
        {"day": START + timedelta(days=4), "value": 30},
    ]
    svg = line_chart(
        "Open <rate>", points, start_day=START, end_day=START + timedelta(days=5), target=30, alert=20
    )
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and svg.endswith("</svg>")
    assert "<title>Open &lt;rate&gt;</title>" in svg
    assert svg.count('<polyline class="series"') == 1  # days 1-2
    assert svg.count('<circle class="series"') == 1  # day 5 alone
    assert 'class="target"' in svg and 'class="alert"' in svg
    assert 'data-points="3"' in svg


def test_a_chart_without_values_says_so():
    svg = line_chart(
        "Bounce Rate", [], start_day=START, end_day=START + timedelta(days=30), target=5, alert=10
    )
    assert "no analytics in this window" in svg and 'class="series"' not in svg


def test_the_page_reads_campaign_analytics_and_nurture_ops_only():
    """Never email_sends (nor events, leads, enrollments): the page stays fast at capacity."""
    import re

    sql_dir = REPO / "include" / "sql" / "ops_page"
    files = sorted(sql_dir.glob("*.sql"))
    assert files
    for path in files:
        text = re.sub(r"--[^\n]*", "", path.read_text())  # comments may name what is not read
        ctes = set(re.findall(r"\b(\w+) AS \(", text))
        tables = set(re.findall(r"\b(?:FROM|JOIN)\s+([a-z_{}. ]+?)\s+AS\b", text)) - ctes
        assert tables <= {
            "campaign_analytics",
            "organizations",
            "nurture_campaigns",
            "{{ schema }}.alert_state",
            "{{ schema }}.alert_silences",
            "{{ schema }}.alert_actions",
            "{{ schema }}.remediation_audit",
        }, (path.name, tables)
        assert "email_sends" not in text and "email_events" not in text, path.name
