"""nurture_ops.n8n through HttpHook on the `n8n_api` connection, against dev/fake_n8n on 127.0.0.1:
pagination, deactivate, errors and their hints, retries, timeouts, the key kept secret, export."""

from __future__ import annotations

import json
import logging
import signal
import socket
from datetime import date
from pathlib import Path

import pytest

from dev.fake_n8n import DEV_API_KEY, FakeN8n, make_workflow
from dev.loopback_server import LoopbackServer, QuietHandler
from nurture_ops.integrations.n8n import N8nClient, N8nError, _base_url
from nurture_ops.integrations.workflow_backups import export_workflows
from tests.dev.test_slack_sink import run_cli, serving  # the local tools' CLIs share their code

LIST = ("GET", "/api/v1/workflows")
SECRET = "wrong-secret-key"


@pytest.fixture
def connect(monkeypatch):
    """Point the Airflow connection `n8n_api` at a URL (JSON form, conn_type http); returns
    N8nClient.from_connection() with the given keyword arguments."""

    def make(host: str, *, password: str | None = DEV_API_KEY, **client_kwargs) -> N8nClient:
        conn = {"conn_type": "http", "host": host}
        if password is not None:
            conn["password"] = password
        monkeypatch.setenv("AIRFLOW_CONN_N8N_API", json.dumps(conn))
        return N8nClient.from_connection(**client_kwargs)

    return make


@pytest.fixture
def logs(caplog):
    """caplog, attached again once the client exists: reading the first connection of the process
    sets up Airflow's logging, which replaces the root logger's handlers (caplog's among them)."""
    root = logging.getLogger()

    def capture(level: int = logging.DEBUG):
        root.addHandler(caplog.handler)
        caplog.set_level(level)
        return caplog

    yield capture
    root.removeHandler(caplog.handler)


class Canned(LoopbackServer):
    """A server that is not N8n: every request gets the same (status, body, content type)."""

    def __init__(self, status: int, body: str, content_type: str):
        super().__init__(0)
        self.answer = (status, body, content_type)

    def handler_class(self):
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self.reply(*server.answer)

        return Handler


def test_list_workflows_follows_the_cursor_across_pages(fake_n8n, connect):
    client = connect(fake_n8n.url)

    workflows = client.list_workflows(page_size=3)

    assert [wf["id"] for wf in workflows] == [f"w{i}" for i in range(1, 8)]
    assert fake_n8n.calls == [LIST, LIST, LIST]  # 3 + 3 + 1
    assert [q.get("limit") for q in fake_n8n.queries] == [["3"], ["3"], ["3"]]
    assert "cursor" not in fake_n8n.queries[0]
    assert fake_n8n.queries[1]["cursor"] != fake_n8n.queries[2]["cursor"]


def test_a_repeated_cursor_stops_the_listing(fake_n8n, connect):
    fake_n8n.repeat_cursor = True
    client = connect(fake_n8n.url)

    with pytest.raises(N8nError, match="same nextCursor twice"):
        client.list_workflows(page_size=2)
    assert len(fake_n8n.calls) == 2  # the second page hands out the first page's cursor again


def test_find_and_deactivate_a_workflow(fake_n8n, connect):
    client = connect(fake_n8n.url)

    found = client.find_workflow("Workflow 5")
    assert found["id"] == "w5" and found["active"] is True
    assert client.find_workflow("No Such Workflow") is None

    result = client.deactivate_workflow("w5")

    assert result["active"] is False
    assert fake_n8n.calls_to("POST", "/api/v1/workflows/w5/deactivate") == 1
    assert fake_n8n.workflow("w5")["active"] is False
    assert client.get_workflow("w5")["active"] is False
    assert [wf["id"] for wf in fake_n8n.workflows if not wf["active"]] == ["w5"]
    assert client.activate_workflow("w5")["active"] is True


def test_find_workflow_refuses_an_ambiguous_name(fake_n8n, connect):
    fake_n8n.workflows.append(make_workflow("w99", "Workflow 2"))
    client = connect(fake_n8n.url)

    with pytest.raises(N8nError, match=r"2 N8n workflows are named 'Workflow 2' \(ids w2, w99\)"):
        client.find_workflow("Workflow 2")


def test_wrong_api_key_gives_a_401_with_a_hint_no_retry_and_no_key(fake_n8n, connect, logs):
    client = connect(fake_n8n.url, password=SECRET)
    caplog = logs(logging.DEBUG)

    with pytest.raises(N8nError) as caught:
        client.list_workflows()

    message = str(caught.value)
    assert caught.value.status == 401
    assert f"GET {fake_n8n.url}/api/v1/workflows?limit=100 returned 401" in message
    assert "unauthorized" in message  # N8n's own error body
    assert "Check the API key in the Airflow connection 'n8n_api'" in message
    assert "attempts" not in message
    assert fake_n8n.calls == [LIST]  # a 401 is final: not retried
    assert '"GET /api/v1/workflows?limit=100 HTTP/1.1" 401' in caplog.text  # the request was logged
    assert SECRET not in message and SECRET not in repr(client) and SECRET not in caplog.text
    assert repr(client) == f"N8nClient({fake_n8n.url!r})"


def test_the_key_goes_in_its_header_only(fake_n8n, monkeypatch):
    # Login set (HttpHook would send login:password as basic auth) and the key in extra (HttpHook
    # would send every extra key as a header of that name): neither may happen.
    conn = {"conn_type": "http", "host": fake_n8n.url, "login": "ops", "extra": {"api_key": DEV_API_KEY}}
    monkeypatch.setenv("AIRFLOW_CONN_N8N_API", json.dumps(conn))

    N8nClient.from_connection().get_workflow("w1")

    [headers] = fake_n8n.headers
    assert headers["X-N8N-API-KEY"] == DEV_API_KEY
    assert [name for name, value in headers.items() if DEV_API_KEY in value] == ["X-N8N-API-KEY"]
    assert "Authorization" not in headers and "api_key" not in {h.lower() for h in headers}


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (403, "lacks permission for this call (N8n API key scopes)"),
        (400, "See the N8n API documentation for this status."),
    ],
)
def test_other_client_errors_are_not_retried(fake_n8n, connect, status, hint):
    fake_n8n.fail_next(1, status)
    client = connect(fake_n8n.url)

    with pytest.raises(N8nError, match=f"returned {status} ") as caught:
        client.get_workflow("w1")

    assert caught.value.status == status
    assert hint in str(caught.value)
    assert fake_n8n.calls == [("GET", "/api/v1/workflows/w1")]


def test_unknown_workflow_is_a_404(fake_n8n, connect):
    client = connect(fake_n8n.url)

    with pytest.raises(N8nError, match="returned 404") as caught:
        client.deactivate_workflow("nope")
    assert caught.value.status == 404
    assert "No such workflow" in str(caught.value)
    assert fake_n8n.calls_to("POST", "/api/v1/workflows/nope/deactivate") == 1


def test_a_503_is_retried_and_then_succeeds(fake_n8n, connect, logs):
    fake_n8n.fail_next(1, 503)
    client = connect(fake_n8n.url)
    caplog = logs(logging.WARNING)

    workflows = client.list_workflows()

    assert len(workflows) == 7
    assert fake_n8n.calls == [LIST, LIST]
    assert (
        f"N8n GET {fake_n8n.url}/api/v1/workflows?limit=100 failed (503 Service Unavailable); " in caplog.text
    )
    assert "attempt 1 of 3, retrying in 0.5 s" in caplog.text


def test_a_429_waits_for_retry_after_then_succeeds(fake_n8n, connect):
    fake_n8n.fail_next(1, 429)  # with Retry-After: 1
    client = connect(fake_n8n.url, retry_wait_s=0.01)

    assert client.deactivate_workflow("w2")["active"] is False
    assert fake_n8n.calls_to("POST", "/api/v1/workflows/w2/deactivate") == 2


def test_a_persistent_5xx_gives_up_after_a_few_attempts(fake_n8n, connect):
    fake_n8n.fail_next(5, 500)
    client = connect(fake_n8n.url, retry_wait_s=0.01)

    with pytest.raises(N8nError) as caught:
        client.get_workflow("w1")

    message = str(caught.value)
    assert caught.value.status == 500
    assert f"GET {fake_n8n.url}/api/v1/workflows/w1 returned 500 Internal Server Error" in message
    assert "check the N8n logs" in message and "(gave up after 3 attempts)" in message
    assert len(fake_n8n.calls) == 3


def test_connection_refused_asks_whether_n8n_is_running(connect):
    with socket.socket() as blocker:  # bound, never listening: connecting is refused
        blocker.bind(("127.0.0.1", 0))
        port = blocker.getsockname()[1]
        client = connect(f"http://127.0.0.1:{port}", timeout=2, retry_wait_s=0.01)

        with pytest.raises(N8nError) as caught:
            client.get_workflow("w1")

    message = str(caught.value)
    assert f"Could not connect to N8n for GET http://127.0.0.1:{port}/api/v1/workflows/w1" in message
    assert "connection refused (gave up after 3 attempts)" in message
    assert f"Is N8n running at http://127.0.0.1:{port}?" in message
    assert "Check the host and port of the Airflow connection 'n8n_api'" in message
    assert caught.value.status is None


def test_a_slow_n8n_times_out_each_attempt(fake_n8n, connect):
    fake_n8n.delay_s = 1.0
    client = connect(fake_n8n.url, timeout=0.2, attempts=2, retry_wait_s=0.01)

    with pytest.raises(N8nError) as caught:
        client.get_workflow("w1")

    message = str(caught.value)
    assert f"N8n did not answer GET {fake_n8n.url}/api/v1/workflows/w1 within 0.2 s" in message
    assert "(gave up after 2 attempts)" in message and "overloaded or unreachable" in message
    assert len(fake_n8n.calls) == 2


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ((200, "<html>It works!</html>", "text/html"), "returned 200 but not JSON (starts '<html>It works!"),
        ((200, '{"workflows": []}', "application/json"), "no 'data' list. Is the connection's host"),
    ],
    ids=["not-json", "no-data-list"],
)
def test_a_host_that_is_not_n8n_is_explained(connect, answer, expected):
    with Canned(*answer) as other:
        client = connect(other.url)
        with pytest.raises(N8nError, match="N8n") as caught:
            client.list_workflows()
    assert expected in str(caught.value)


def test_from_connection_reads_host_port_and_key(fake_n8n, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_N8N_API", fake_n8n.connection_json())  # host and port apart

    client = N8nClient.from_connection()

    assert client.base_url == fake_n8n.url
    assert len(client.list_workflows()) == 7


def test_from_connection_takes_the_key_from_extra(fake_n8n, monkeypatch):
    conn = {"conn_type": "http", "host": f"{fake_n8n.url}/", "extra": {"api_key": DEV_API_KEY}}
    monkeypatch.setenv("AIRFLOW_CONN_N8N_OPS", json.dumps(conn))

    client = N8nClient.from_connection("n8n_ops")

    assert client.find_workflow("Workflow 1")["id"] == "w1"


def test_from_connection_with_schema_and_a_trailing_api_prefix(fake_n8n, monkeypatch):
    for conn in (
        {"conn_type": "http", "host": "127.0.0.1", "schema": "http", "port": fake_n8n.port},
        {"conn_type": "http", "host": f"{fake_n8n.url}/api/v1/"},
    ):
        monkeypatch.setenv("AIRFLOW_CONN_N8N_API", json.dumps({**conn, "password": DEV_API_KEY}))
        client = N8nClient.from_connection()
        assert client.base_url == fake_n8n.url
        assert client.get_workflow("w3")["name"] == "Workflow 3"
    assert fake_n8n.calls == [("GET", "/api/v1/workflows/w3")] * 2


def test_base_url_forms(connect):
    assert _base_url("http://127.0.0.1", 5678, None) == "http://127.0.0.1:5678"
    assert _base_url("https://n8n.example.com:8443/", 443, None) == "https://n8n.example.com:8443"
    assert _base_url("n8n.example.com", None, "https") == "https://n8n.example.com"
    assert _base_url("n8n.internal", 5678, None) == "http://n8n.internal:5678"
    assert _base_url("https://example.com/n8n", None, None) == "https://example.com/n8n"
    assert _base_url("https://example.com/n8n/api/v1/", None, None) == "https://example.com/n8n"
    assert connect("https://example.com/n8n/api/v1/", password="k").base_url == "https://example.com/n8n"


def test_missing_key_or_host_is_explained(connect, monkeypatch):
    with pytest.raises(N8nError, match=r"API key is empty: put it in the password .* 'n8n_api'"):
        connect("http://127.0.0.1:5678", password=None)
    monkeypatch.setenv("AIRFLOW_CONN_N8N_OPS", json.dumps({"conn_type": "http", "password": "k"}))
    with pytest.raises(N8nError, match="base URL is empty: set the host of the Airflow connection 'n8n_ops'"):
        N8nClient.from_connection("n8n_ops")


def test_cli_serves_the_demo_workflows_until_signalled(tmp_path, monkeypatch):
    """`python -m dev.fake_n8n` as dev/stack.py starts it: PID file, banner, SIGTERM."""
    pidfile = tmp_path / "run" / "fake_n8n.pid"
    with serving(
        "dev.fake_n8n", "--port", "0", "--api-key", "local-dev-key", "--pidfile", str(pidfile)
    ) as proc:
        banner = proc.stdout.readline()
        assert banner.startswith("fake n8n listening on http://127.0.0.1:"), banner
        assert banner.rstrip().endswith("/api/v1 (5 demo workflows)")
        assert pidfile.read_text().strip() == str(proc.pid)
        connection = proc.stdout.readline().strip().removeprefix("AIRFLOW_CONN_N8N_API=")
        monkeypatch.setenv("AIRFLOW_CONN_N8N_API", connection.strip("'"))

        assert len(N8nClient.from_connection().list_workflows()) == 5
        assert "fake n8n GET /api/v1/workflows?limit=100 -> 200" in proc.stdout.readline()

        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "fake n8n stopped" in stdout
    assert not pidfile.exists()


def test_cli_refuses_a_busy_port(fake_n8n):
    result = run_cli("dev.fake_n8n", "--port", str(fake_n8n.port))

    assert result.returncode == 1
    assert f"fake n8n: cannot listen on 127.0.0.1:{fake_n8n.port}" in result.stderr


# -- export -----------------------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_export_twice_reports_the_diff_and_overwrites_nothing(tmp_path, connect):
    workflows = [
        make_workflow("a1", "Lead Nurture - Message Scheduler"),
        make_workflow("b2", "Lead Nurture - Email Sender"),
        make_workflow("c3", "Lead Nurture - Event Tracker"),
        make_workflow("d4", "Lead Nurture - Analytics Updater", active=False),
    ]
    root = tmp_path / "backups"
    destination = f"file://{root}"
    with FakeN8n(workflows, port=0) as n8n:
        client = connect(n8n.url)

        first = export_workflows(client, destination, export_date=date(2026, 11, 2))

        assert first == {
            "location": f"file://{root}/2026-11-02",
            "label": "2026-11-02",
            "workflows": 4,
            "active": 3,
            "previous": None,
            "first_export": True,
            **{f"{k}_count": 0 for k in ("added", "removed", "changed", "deactivated", "activated")},
            **{k: [] for k in ("added", "removed", "changed", "deactivated", "activated")},
        }
        assert sorted(p.name for p in (root / "2026-11-02").iterdir()) == [
            "manifest.json",
            "workflow-a1.json",
            "workflow-b2.json",
            "workflow-c3.json",
            "workflow-d4.json",
        ]
        saved = json.loads((root / "2026-11-02" / "workflow-a1.json").read_text())
        assert saved == workflows[0]
        manifest = json.loads((root / "2026-11-02" / "manifest.json").read_text())
        assert [(e["id"], e["name"], e["active"]) for e in manifest["workflows"]] == [
            ("a1", "Lead Nurture - Message Scheduler", True),
            ("b2", "Lead Nurture - Email Sender", True),
            ("c3", "Lead Nurture - Event Tracker", True),
            ("d4", "Lead Nurture - Analytics Updater", False),
        ]
        assert all(len(e["sha256"]) == 64 and e["updatedAt"] for e in manifest["workflows"])
        before = _tree(root)

        # In between: the scheduler is edited, the sender paused, the tracker deleted, one added.
        n8n.workflow("a1")["nodes"].append({"id": "a1-wait", "name": "Wait", "type": "n8n-nodes-base.wait"})
        client.deactivate_workflow("b2")
        n8n.workflows.remove(n8n.workflow("c3"))
        n8n.workflows.append(make_workflow("e5", "Lead Nurture - Content Personalizer"))

        second = export_workflows(client, destination, export_date=date(2026, 11, 2))

        # Same day: a new folder, the first export byte for byte as it was.
        assert second["label"] == "2026-11-02-2"
        assert second["location"] == f"file://{root}/2026-11-02-2"
        assert second["previous"] == "2026-11-02"
        assert second["first_export"] is False
        assert (second["workflows"], second["active"]) == (4, 2)
        assert second["added"] == ["Lead Nurture - Content Personalizer"]
        assert second["removed"] == ["Lead Nurture - Event Tracker"]
        assert second["changed"] == ["Lead Nurture - Message Scheduler"]  # not b2: only deactivated
        assert second["deactivated"] == ["Lead Nurture - Email Sender"]
        assert second["activated"] == []
        assert (second["added_count"], second["removed_count"], second["changed_count"]) == (1, 1, 1)
        assert second["deactivated_count"] == 1
        after = _tree(root)
        assert {k: v for k, v in after.items() if k.startswith("2026-11-02/")} == before
        assert sorted(k for k in after if k.startswith("2026-11-02-2/")) == [
            "2026-11-02-2/manifest.json",
            "2026-11-02-2/workflow-a1.json",
            "2026-11-02-2/workflow-b2.json",
            "2026-11-02-2/workflow-d4.json",
            "2026-11-02-2/workflow-e5.json",
        ]
        assert json.loads(after["2026-11-02-2/workflow-b2.json"])["active"] is False

        # A week later, nothing changed: compared with the latest export, not the first.
        third = export_workflows(client, destination, export_date=date(2026, 11, 9))
        assert third["label"] == "2026-11-09"
        assert third["previous"] == "2026-11-02-2"
        assert [third[f"{k}_count"] for k in ("added", "removed", "changed", "deactivated")] == [0, 0, 0, 0]


def test_export_compares_with_a_given_baseline_and_skips_a_taken_folder(tmp_path, connect):
    root = tmp_path / "wf"
    (root / "2026-11-02").mkdir(parents=True)  # someone else's folder, no manifest: not ours
    (root / "2026-11-02" / "notes.txt").write_text("keep me")
    with FakeN8n([make_workflow("a1", "A"), make_workflow("b2", "B")], port=0) as n8n:
        client = connect(n8n.url)
        baseline = [{"id": "b2", "name": "B", "active": True, "sha256": "0" * 64}, {"id": "z9", "name": "Z"}]

        summary = export_workflows(client, f"file://{root}", export_date=date(2026, 11, 2), previous=baseline)

    assert summary["label"] == "2026-11-02-2"
    assert summary["previous"] == "(given)"
    assert (summary["added"], summary["removed"], summary["changed"]) == (["A"], ["Z"], ["B"])
    assert (root / "2026-11-02" / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in (root / "2026-11-02").iterdir()) == ["notes.txt"]
