"""The PagerDuty Events API v2 stand-in (dev/fake_pagerduty.py), over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json

import requests

from dev.fake_pagerduty import HOST, FakePagerDuty

TRIGGER = {
    "routing_key": "k",
    "event_action": "trigger",
    "dedup_key": "high_email_failure_rate/o1",
    "payload": {"summary": "s", "source": "nurture_ops", "severity": "critical"},
}


def test_enqueue_answers_202_records_and_tracks_open_incidents(tmp_path):
    with FakePagerDuty(port=0, jsonl_path=tmp_path / "pd.jsonl") as pd:
        assert HOST == "127.0.0.1" and pd.url.startswith("http://127.0.0.1:")
        answer = requests.post(f"{pd.url}/v2/enqueue", json=TRIGGER, timeout=5)
        assert answer.status_code == 202
        assert answer.json() == {
            "status": "success",
            "message": "Event processed",
            "dedup_key": TRIGGER["dedup_key"],
        }
        assert pd.open_incidents() == [TRIGGER["dedup_key"]]
        resolve = {"routing_key": "k", "event_action": "resolve", "dedup_key": TRIGGER["dedup_key"]}
        assert requests.post(f"{pd.url}/v2/enqueue", json=resolve, timeout=5).status_code == 202
        assert pd.open_incidents() == []
        assert requests.get(f"{pd.url}/healthz", timeout=5).json() == {
            "status": "ok",
            "received": 2,
            "open": [],
        }
    lines = [json.loads(line) for line in (tmp_path / "pd.jsonl").read_text().splitlines()]
    assert [line["event"]["event_action"] for line in lines] == ["trigger", "resolve"]


def test_invalid_events_get_400_and_failures_come_on_demand():
    with FakePagerDuty(port=0) as pd:
        bad = requests.post(f"{pd.url}/v2/enqueue", json={"event_action": "resolve"}, timeout=5)
        assert bad.status_code == 400 and "'dedup_key' is missing or blank" in bad.json()["errors"]
        assert requests.post(f"{pd.url}/_fail?status=429&count=1", timeout=5).status_code == 200
        limited = requests.post(f"{pd.url}/v2/enqueue", json=TRIGGER, timeout=5)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
        pd.fail_next(1, 503)
        assert requests.post(f"{pd.url}/v2/enqueue", json=TRIGGER, timeout=5).status_code == 503
        assert requests.post(f"{pd.url}/v2/enqueue", json=TRIGGER, timeout=5).status_code == 202
        assert len(pd.events()) == 1  # failures are not recorded
