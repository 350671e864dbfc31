"""dev/slack_sink.py: a real HTTP server answering Slack incoming-webhook POSTs like Slack does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import AirflowException
from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

from dev.slack_sink import SlackSink

REPO = Path(__file__).resolve().parents[2]
WEBHOOK_PATH = "/services/T000/B000/XXX"
BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": "Bounce rate alert"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*welcome_series*: 7.5% > 5.0%"}},
]


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, str, dict]:
    """POST raw bytes; returns (status, body, headers) for success and error statuses alike."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m <args>` in the repository, to completion (30 s at most)."""
    command = [sys.executable, "-m", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30)


@contextmanager
def serving(*args: str) -> Iterator[subprocess.Popen]:
    """`python -m <args>` (a local tool's CLI) running in the repository; killed if still alive at
    the end, or after 30 s: a stuck child never hangs the suite."""
    command = [sys.executable, "-m", *args]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(30, proc.kill)
    watchdog.start()
    try:
        yield proc
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_hook_message_is_recorded_in_memory_and_file(slack_sink):
    hook = SlackWebhookHook(slack_webhook_conn_id="slack_alerts")
    hook.send(text="Bounce rate above threshold\nsecond line", blocks=BLOCKS)

    expected = {"text": "Bounce rate above threshold\nsecond line", "blocks": BLOCKS}
    assert slack_sink.payloads() == [expected]
    [record] = jsonl(slack_sink.jsonl_path)
    assert record["path"] == WEBHOOK_PATH
    assert record["payload"] == expected
    assert datetime.fromisoformat(record["received_at"]).utcoffset() is not None
    assert slack_sink.records() == [record]


def test_fail_next_makes_the_hook_raise_and_records_nothing(slack_sink):
    hook = SlackWebhookHook(slack_webhook_conn_id="slack_alerts")
    slack_sink.fail_next(1)

    with pytest.raises(AirflowException, match="Status Code: 500"):
        hook.send(text="first try")
    assert slack_sink.payloads() == []
    assert not slack_sink.jsonl_path.exists()

    hook.send(text="second try")
    assert slack_sink.payloads() == [{"text": "second try"}]
    assert [r["payload"] for r in jsonl(slack_sink.jsonl_path)] == [{"text": "second try"}]


def test_fail_next_calls_queue_up_in_order(slack_sink):
    slack_sink.fail_next(1, status=429)
    slack_sink.fail_next(2, status=503)
    url = slack_sink.url + WEBHOOK_PATH
    body = json.dumps({"text": "hello"}).encode()

    status, text, headers = post(url, body)
    assert (status, text, headers.get("Retry-After")) == (429, "rate_limited", "1")
    assert post(url, body)[:2] == (503, "internal_error")
    assert post(url, body)[:2] == (503, "internal_error")
    assert post(url, body)[:2] == (200, "ok")
    assert slack_sink.payloads() == [{"text": "hello"}]


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"{not json", "application/json", (400, "invalid_payload")),
        (b"[1, 2]", "application/json", (400, "invalid_payload")),
        (b"\xff\xfe", "application/json", (400, "invalid_payload")),
        (b"", "application/json", (400, "invalid_payload")),
        (b"text=hello", "application/x-www-form-urlencoded", (400, "invalid_payload")),
        (b'{"text": ""}', "application/json", (400, "no_text")),
        (b'{"username": "nurture-ops", "blocks": []}', "application/json", (400, "no_text")),
    ],
    ids=[
        "broken-json",
        "json-array",
        "not-utf8",
        "empty",
        "form-without-payload",
        "empty-text",
        "no-content",
    ],
)
def test_rejected_payloads_get_slack_errors_and_are_not_recorded(slack_sink, body, content_type, expected):
    status, text, _ = post(slack_sink.url + WEBHOOK_PATH, body, content_type)
    assert (status, text) == expected
    assert slack_sink.payloads() == []
    assert not slack_sink.jsonl_path.exists()


def test_form_encoded_payload_is_accepted(slack_sink):
    payload = {"text": "from a form", "blocks": BLOCKS[:1]}
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()

    assert post(slack_sink.url + WEBHOOK_PATH, body, "application/x-www-form-urlencoded")[:2] == (200, "ok")
    assert slack_sink.payloads() == [payload]


def test_attachments_only_payload_is_accepted(slack_sink):
    payload = {"attachments": [{"fallback": "legacy", "color": "danger", "text": "legacy alert"}]}
    assert post(slack_sink.url + WEBHOOK_PATH, json.dumps(payload).encode())[:2] == (200, "ok")
    assert slack_sink.payloads() == [payload]


def test_path_outside_services_is_404(slack_sink):
    assert post(slack_sink.url + "/hooks/x", b'{"text": "x"}')[:2] == (404, "no_service")
    assert slack_sink.payloads() == []


def test_clear_forgets_memory_but_keeps_the_file(slack_sink):
    hook = SlackWebhookHook(slack_webhook_conn_id="slack_alerts")
    hook.send(text="one")
    slack_sink.fail_next(3)
    slack_sink.clear()
    assert slack_sink.payloads() == []

    hook.send(text="two")  # would fail had clear() kept the pending failures
    assert slack_sink.payloads() == [{"text": "two"}]
    assert [r["payload"]["text"] for r in jsonl(slack_sink.jsonl_path)] == ["one", "two"]


def test_concurrent_posts_are_all_recorded_as_whole_lines(slack_sink):
    url = slack_sink.url + WEBHOOK_PATH
    statuses = []

    def send(worker: int) -> None:
        for i in range(5):
            statuses.append(post(url, json.dumps({"text": f"w{worker}-{i}"}).encode())[0])

    threads = [threading.Thread(target=send, args=(w,)) for w in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    expected = {f"w{w}-{i}" for w in range(12) for i in range(5)}
    assert statuses == [200] * 60
    assert {p["text"] for p in slack_sink.payloads()} == expected
    assert sorted(r["payload"]["text"] for r in jsonl(slack_sink.jsonl_path)) == sorted(expected)
    # Per worker, messages arrive in the order they were sent.
    texts = [p["text"] for p in slack_sink.payloads()]
    for w in range(12):
        assert [t for t in texts if t.startswith(f"w{w}-")] == [f"w{w}-{i}" for i in range(5)]


def test_addresses_and_connection_json(slack_sink):
    assert slack_sink.port > 0
    assert slack_sink.url == f"http://127.0.0.1:{slack_sink.port}"
    assert json.loads(slack_sink.connection_json()) == {
        "conn_type": "slackwebhook",
        "host": f"http://127.0.0.1:{slack_sink.port}/services",
        "password": "T000/B000/XXX",
    }
    assert slack_sink._server.server_address[0] == "127.0.0.1"
    with urllib.request.urlopen(slack_sink.url + "/healthz", timeout=5) as response:
        assert json.loads(response.read()) == {"status": "ok", "received": 0}


def test_wait_for_returns_once_enough_payloads_arrived(slack_sink):
    url = slack_sink.url + WEBHOOK_PATH
    timer = threading.Timer(0.2, post, args=(url, b'{"text": "late"}'))
    timer.start()
    assert slack_sink.wait_for(1, timeout=5) == [{"text": "late"}]
    timer.join()
    with pytest.raises(TimeoutError, match="got 1 payload"):
        slack_sink.wait_for(2, timeout=0.2)


def test_not_quiet_prints_a_readable_line(tmp_path, capsys):
    with SlackSink(port=0, jsonl_path=None, quiet=False) as sink:
        body = {"text": "Queue backlog: 1200 pending\nmore detail", "blocks": BLOCKS}
        assert post(sink.url + WEBHOOK_PATH, json.dumps(body).encode())[0] == 200
    out = capsys.readouterr().out
    assert "Queue backlog: 1200 pending [2 blocks]" in out
    assert "more detail" not in out


def test_a_busy_port_is_refused(slack_sink):
    with pytest.raises(OSError):
        SlackSink(port=slack_sink.port, quiet=True).start()
    result = run_cli("dev.slack_sink", "--port", str(slack_sink.port), "--out", "/dev/null")
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{slack_sink.port}" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_serves_until_signalled(tmp_path, signum):
    out, pidfile = tmp_path / "out" / "slack.jsonl", tmp_path / "sink.pid"
    with serving("dev.slack_sink", "--port", "0", "--out", str(out), "--pidfile", str(pidfile)) as proc:
        banner = proc.stdout.readline()
        assert banner.startswith("slack sink listening on http://127.0.0.1:"), banner
        webhook_url = banner.split()[4]
        assert webhook_url.endswith(WEBHOOK_PATH)
        assert pidfile.read_text().strip() == str(proc.pid)

        assert post(webhook_url, b'{"text": "hello from make run"}')[:2] == (200, "ok")
        assert "hello from make run [0 blocks]" in proc.stdout.readline()

        os.kill(proc.pid, signum)
        stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "slack sink stopped" in stdout
    assert not pidfile.exists()
    assert [r["payload"] for r in jsonl(out)] == [{"text": "hello from make run"}]
