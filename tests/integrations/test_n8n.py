"""nurture_ops.n8n against dev/fake_n8n on 127.0.0.1: pagination, deactivate, errors, export."""

from __future__ import annotations

import json
import socket
from datetime import date
from pathlib import Path

import pytest

from dev.fake_n8n import DEV_API_KEY, FakeN8n, make_workflow
from nurture_ops.integrations.n8n import N8nClient, N8nError, _base_url
from nurture_ops.integrations.workflow_backups import export_workflows

LIST = ("GET", "/api/v1/workflows")


def test_list_workflows_follows_the_cursor_across_pages(fake_n8n):
    client = N8nClient(fake_n8n.url, DEV_API_KEY)

    workflows = client.list_workflows(page_size=3)

    assert [wf["id"] for wf in workflows] == [f"w{i}" for i in range(1, 8)]
    assert fake_n8n.calls == [LIST, LIST, LIST]  # 3 + 3 + 1
    assert [q.get("limit") for q in fake_n8n.queries] == [["3"], ["3"], ["3"]]
    assert "cursor" not in fake_n8n.queries[0]
    assert fake_n8n.queries[1]["cursor"] != fake_n8n.queries[2]["cursor"]


def test_a_repeated_cursor_stops_the_listing(fake_n8n):
    fake_n8n.repeat_cursor = True
    client = N8nClient(fake_n8n.url, DEV_API_KEY)

    with pytest.raises(N8nError, match="same nextCursor twice"):
        client.list_workflows(page_size=2)
    assert len(fake_n8n.calls) == 2  # the second page hands out the first page's cursor again


def test_find_and_deactivate_a_workflow(fake_n8n):
    client = N8nClient(fake_n8n.url, DEV_API_KEY)

    found = client.find_workflow("Workflow 5")
    assert found["id"] == "w5" and found["active"] is True
    assert client.find_workflow("No Such Workflow") is None

    result = client.deactivate_workflow("w5")

    assert result["active"] is False
    assert fake_n8n.calls_to("POST", "/api/v1/workflows/w5/deactivate") == 1
    assert fake_n8n.workflow("w5")["active"] is False
    assert client.get_workflow("w5")["active"] is False
    assert [wf["id"] for wf in fake_n8n.workflows if not wf["active"]] == ["w5"]


def test_find_workflow_refuses_an_ambiguous_name(fake_n8n):
    fake_n8n.workflows.append(make_workflow("w99", "Workflow 2"))
    client = N8nClient(fake_n8n.url, DEV_API_KEY)

    with pytest.raises(N8nError, match=r"2 N8n workflows are named 'Workflow 2' \(ids w2, w99\)"):
        client.find_workflow("Workflow 2")


def test_wrong_api_key_gives_a_401_with_a_hint_and_no_key(fake_n8n):
    client = N8nClient(fake_n8n.url, "wrong-secret-key")

    with pytest.raises(N8nError) as caught:
        client.list_workflows()

    message = str(caught.value)
    assert caught.value.status == 401
    assert f"GET {fake_n8n.url}/api/v1/workflows?limit=100 returned 401" in message
    assert "unauthorized" in message  # N8n's own error body
    assert "Check the API key in the Airflow connection 'n8n_api'" in message
    assert "wrong-secret-key" not in message
    assert fake_n8n.calls == [LIST]


def test_unknown_workflow_is_a_404(fake_n8n):
    client = N8nClient(fake_n8n.url, DEV_API_KEY)

    with pytest.raises(N8nError, match="returned 404") as caught:
        client.deactivate_workflow("nope")
    assert caught.value.status == 404


def test_connection_refused_asks_whether_n8n_is_running():
    with socket.socket() as blocker:  # bound, never listening: connecting is refused
        blocker.bind(("127.0.0.1", 0))
        port = blocker.getsockname()[1]
        client = N8nClient(f"http://127.0.0.1:{port}", DEV_API_KEY, timeout=2)

        with pytest.raises(N8nError) as caught:
            client.get_workflow("w1")

    message = str(caught.value)
    assert f"Could not connect to N8n for GET http://127.0.0.1:{port}/api/v1/workflows/w1" in message
    assert "connection refused" in message
    assert f"Is N8n running at http://127.0.0.1:{port}?" in message
    assert caught.value.status is None


def test_from_connection_reads_host_port_and_key(fake_n8n, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_N8N_API", fake_n8n.connection_json())

    client = N8nClient.from_connection()

    assert client.base_url == fake_n8n.url
    assert len(client.list_workflows()) == 7


def test_from_connection_takes_the_key_from_extra(fake_n8n, monkeypatch):
    conn = {"conn_type": "http", "host": f"{fake_n8n.url}/", "extra": {"api_key": DEV_API_KEY}}
    monkeypatch.setenv("AIRFLOW_CONN_N8N_OPS", json.dumps(conn))

    client = N8nClient.from_connection("n8n_ops")

    assert client.find_workflow("Workflow 1")["id"] == "w1"


def test_base_url_forms():
    assert _base_url("http://127.0.0.1", 5678, None) == "http://127.0.0.1:5678"
    assert _base_url("https://n8n.example.com:8443/", 443, None) == "https://n8n.example.com:8443"
    assert _base_url("n8n.example.com", None, "https") == "https://n8n.example.com"
    assert _base_url("n8n.internal", 5678, None) == "http://n8n.internal:5678"
    assert _base_url("https://example.com/n8n", None, None) == "https://example.com/n8n"
    assert N8nClient("https://example.com/n8n/api/v1/", "k").base_url == "https://example.com/n8n"


def test_missing_key_is_explained():
    with pytest.raises(N8nError, match="API key is empty"):
        N8nClient("http://127.0.0.1:5678", "")


# -- export -----------------------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_export_twice_reports_the_diff_and_overwrites_nothing(tmp_path):
    workflows = [
        make_workflow("a1", "Lead Nurture - Message Scheduler"),
        make_workflow("b2", "Lead Nurture - Email Sender"),
        make_workflow("c3", "Lead Nurture - Event Tracker"),
        make_workflow("d4", "Lead Nurture - Analytics Updater", active=False),
    ]
    root = tmp_path / "backups"
    destination = f"file://{root}"
    with FakeN8n(workflows, port=0) as n8n:
        client = N8nClient(n8n.url, DEV_API_KEY)

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


def test_export_compares_with_a_given_baseline_and_skips_a_taken_folder(tmp_path):
    root = tmp_path / "wf"
    (root / "2026-11-02").mkdir(parents=True)  # someone else's folder, no manifest: not ours
    (root / "2026-11-02" / "notes.txt").write_text("keep me")
    with FakeN8n([make_workflow("a1", "A"), make_workflow("b2", "B")], port=0) as n8n:
        client = N8nClient(n8n.url, DEV_API_KEY)
        baseline = [{"id": "b2", "name": "B", "active": True, "sha256": "0" * 64}, {"id": "z9", "name": "Z"}]

        summary = export_workflows(client, f"file://{root}", export_date=date(2026, 11, 2), previous=baseline)

    assert summary["label"] == "2026-11-02-2"
    assert summary["previous"] == "(given)"
    assert (summary["added"], summary["removed"], summary["changed"]) == (["A"], ["Z"], ["B"])
    assert (root / "2026-11-02" / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in (root / "2026-11-02").iterdir()) == ["notes.txt"]
