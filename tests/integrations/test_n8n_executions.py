"""N8n's execution queue (runbook 5 "Scale N8n: workflow execution queue > 100 items") through the
public API against dev/fake_n8n over HTTP: cursor paging, stopping past the threshold, errors,
timeouts, a malformed answer, and the check's measure when the connection is missing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dev.fake_n8n import DEV_API_KEY, FakeN8n, demo_executions, demo_workflows
from nurture_ops.alerting.api_checks import measure_n8n_queue, queue_metrics
from nurture_ops.core.catalog import N8N_EXECUTION_QUEUE_BACKLOG
from nurture_ops.core.evaluate import evaluate
from nurture_ops.integrations.n8n import N8nClient, N8nError
from tests.integrations.test_n8n import Canned

EXECUTIONS = ("GET", "/api/v1/executions")
AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def n8n(monkeypatch):
    server = FakeN8n(demo_workflows(), port=0, executions=demo_executions(waiting=4, running=2)).start()
    monkeypatch.setenv("AIRFLOW_CONN_N8N_API", server.connection_json())
    yield server
    server.stop()


def client(url: str, **kwargs) -> N8nClient:
    from airflow.sdk import Connection

    return N8nClient(
        Connection(conn_id="n8n_api", conn_type="http", host=url, password=DEV_API_KEY), **kwargs
    )


def test_counts_waiting_and_running_across_pages(n8n):
    counted = client(n8n.url).count_executions(stop_above=100, page_size=3)

    assert counted == {"counted": 6, "by_status": {"waiting": 4, "running": 2}, "complete": True, "pages": 3}
    assert n8n.calls == [EXECUTIONS] * 3  # waiting: 3 + 1, running: 2
    assert [q["status"] for q in n8n.queries] == [["waiting"], ["waiting"], ["running"]]
    assert [q["limit"] for q in n8n.queries] == [["3"], ["3"], ["3"]]
    assert "cursor" not in n8n.queries[0] and "cursor" in n8n.queries[1]
    assert n8n.headers[0]["X-N8N-API-KEY"] == DEV_API_KEY


def test_counting_stops_once_past_the_threshold(n8n):
    n8n.set_backlog(waiting=250, running=5)

    counted = client(n8n.url).count_executions(stop_above=100, page_size=50)

    # 50, 100, 150: past 100 after the third page; the rest and the running ones are never asked for.
    assert counted == {
        "counted": 150,
        "by_status": {"waiting": 150},
        "complete": False,
        "pages": 3,
    }
    assert all(q["status"] == ["waiting"] for q in n8n.queries)
    metrics = queue_metrics(counted, 100)
    assert metrics["queue_text"] == "more than 100 (counting stopped at 150: 150 waiting)"
    finding = evaluate(N8N_EXECUTION_QUEUE_BACKLOG, metrics)
    assert finding.status == "warning"
    assert finding.summary == (
        "N8n workflow executions waiting or running: more than 100 (counting stopped at 150: 150 waiting)"
    )


def test_a_queue_at_the_threshold_does_not_fire(n8n):
    n8n.set_backlog(waiting=60, running=40)

    row = measure_n8n_queue(N8N_EXECUTION_QUEUE_BACKLOG, AT)

    assert row["queued_executions"] == 100 and row["counted_all"] is True
    assert row["queue_text"] == "100 (60 waiting, 40 running)"
    assert evaluate(N8N_EXECUTION_QUEUE_BACKLOG, row).status == "ok"


def test_an_api_error_is_no_data_with_the_reason(n8n):
    n8n.fail_next(1, 401)

    row = measure_n8n_queue(N8N_EXECUTION_QUEUE_BACKLOG, AT)

    assert row["queued_executions"] is None
    assert row["queue_text"].startswith("API failed: N8n API GET ")
    assert "returned 401 Unauthorized" in row["queue_text"]
    finding = evaluate(N8N_EXECUTION_QUEUE_BACKLOG, row)
    assert finding.status == "no_data"
    assert "API failed" in finding.summary


def test_a_slow_n8n_times_out(n8n):
    n8n.delay_s = 1.0

    with pytest.raises(N8nError, match=r"did not answer GET .*/api/v1/executions.* within 0.2 s"):
        client(n8n.url, timeout=0.2, attempts=1).count_executions(stop_above=100)


def test_a_malformed_answer_is_explained():
    with (
        Canned(200, json.dumps({"executions": []}), "application/json") as server,
        pytest.raises(N8nError, match="no 'data' list"),
    ):
        client(server.url, attempts=1).count_executions(stop_above=100)


def test_not_configured_is_no_data_not_a_failure(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_N8N_API", raising=False)

    row = measure_n8n_queue(N8N_EXECUTION_QUEUE_BACKLOG, AT)

    assert row == {
        "queued_executions": None,
        "queue_text": "not configured: the Airflow connection 'n8n_api' is not defined",
    }
    assert evaluate(N8N_EXECUTION_QUEUE_BACKLOG, row).status == "no_data"


def test_the_fake_raises_the_backlog_over_http(n8n):
    import requests

    answer = requests.post(f"{n8n.url}/_backlog?waiting=140&running=3", timeout=5)

    assert answer.json() == {"waiting": 140, "running": 3}
    assert client(n8n.url).count_executions(stop_above=1000)["counted"] == 143


def test_a_full_last_page_past_the_threshold_stops_before_the_next_status(n8n):
    n8n.set_backlog(waiting=150, running=7)

    counted = client(n8n.url).count_executions(stop_above=100, page_size=100)

    # 100 + 50: every waiting one counted, past 100: the running ones are not asked for.
    assert counted == {"counted": 150, "by_status": {"waiting": 150}, "complete": False, "pages": 2}


def test_the_last_status_past_the_threshold_is_a_complete_count(n8n):
    n8n.set_backlog(waiting=60, running=45)

    counted = client(n8n.url).count_executions(stop_above=100, page_size=100)

    assert counted == {
        "counted": 105,
        "by_status": {"waiting": 60, "running": 45},
        "complete": True,
        "pages": 2,
    }
    assert queue_metrics(counted, 100)["queue_text"] == "105 (60 waiting, 45 running)"
