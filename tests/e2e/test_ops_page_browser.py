"""The Lead Nurture page in a real browser, against the real api-server started as `make run` starts it.

Headless Chromium (Debian's `chromium` package, driven by Playwright's Python package through
executable_path; no browser download) logs in to the Airflow UI, opens the page from the
navigation, checks the KPI table and a chart, silences an alert and sees it on the board. A
screenshot is saved under the test's tmp dir and .local/test-artifacts/. Without Chromium the
test skips saying so (`make test` installs it when it runs as root).

The api-server is dev/stack.py's (airflow_env, airflow_commands, start_service, end_session) on a
free port with a fresh PostgreSQL metadata database; the lead-nurture database is the test's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dev import stack
from dev.scheduler_harness import drop_database, free_port
from nurture_ops.alerting import state as alert_state
from nurture_ops.core.catalog import get_check
from nurture_ops.core.evaluate import evaluate
from tests.builders import Seed

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = stack.REPO / ".local" / "test-artifacts"


@pytest.fixture
def api_server(tmp_path, leads_db):
    """Only the api-server of `make run` (the page needs no scheduler), on a free port; yields
    (base url, user, password). Ended by its session id, the metadata database dropped."""
    metadata_db = f"airflow_page_{os.getpid()}"
    port = free_port()
    home, log_dir = tmp_path / "airflow", tmp_path / "logs"
    proc = None
    drop_database(metadata_db)
    try:
        stack.ensure_metadata_db(metadata_db)
        env = stack.airflow_env(
            home=home, api_port=port, sink_port=free_port(), n8n_port=free_port(), metadata_db=metadata_db
        )
        migrate = subprocess.run(
            [str(stack.BIN / "airflow"), "db", "migrate"],
            cwd=stack.REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
        proc = stack.start_service(
            "api_server", env, command=stack.airflow_commands(port)["api_server"], log_dir=log_dir
        )
        stack.wait_for(
            lambda: stack.health(port), {"api_server": proc}, "the api-server answering", 120, log_dir
        )
        user, password = stack.login(home)
        assert password, f"no generated password in {stack.passwords_file(home)}"
        yield f"http://{stack.HOST}:{port}", user, password
    finally:
        if proc is not None:
            left = stack.end_session(proc.pid)
            proc.wait(timeout=5)
            assert not left, f"api-server: processes would not die: {left}"
        drop_database(metadata_db)


def seed_page(db) -> float:
    """Yesterday's analytics of one campaign, and High Email Failure Rate firing now; returns
    yesterday's open rate as the page must show it."""
    seed = Seed(db)
    org = seed.org("Acme Corp")
    campaign = seed.campaign(org, "Welcome series")
    today = datetime.now(UTC).date()
    for offset in range(1, 31):
        seed.analytics(
            campaign,
            today - timedelta(days=offset),
            emails_sent=200,
            org_id=org,
            emails_delivered_today=190,
            emails_bounced_today=6,
            emails_failed_today=4,
            unique_opens_today=50 + offset,
            unique_clicks_today=8,
            unsubscribes_today=1,
        )
    alert_state.ensure_schema(db)
    finding = evaluate(
        get_check("high_email_failure_rate"), {"total": 40, "failed": 12, "failure_rate": 30.0}
    )
    alert_state.record(
        db, finding, evaluated_at=datetime.now(UTC) - timedelta(minutes=1), repeat_interval=timedelta(hours=4)
    )
    return round((50 + 1) * 100 / 200, 2)


def test_log_in_open_the_page_from_the_navigation_and_silence_an_alert(api_server, db, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is not installed ({CHROMIUM}): `apt-get install -y chromium` (make test does it as root)"
        )
    from playwright.sync_api import expect, sync_playwright

    base, user, password = api_server
    open_rate = seed_page(db)
    shot = tmp_path / "lead_nurture_page.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(base + "/")
            page.get_by_label("Username").fill(user)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()

            page.get_by_role("link", name="Lead Nurture").or_(
                page.get_by_role("button", name="Lead Nurture")
            ).first.click()
            expect(page).to_have_url(f"{base}/plugin/lead-nurture")
            frame = page.frame_locator("iframe")
            kpis = frame.locator("#kpi-table")
            expect(kpis).to_be_visible()
            expect(kpis.locator('tr[data-metric="open_rate"] td[data-window="yesterday"]')).to_have_text(
                f"{open_rate:.2f}%"
            )
            chart = frame.locator('#trends figure[data-metric="open_rate"] svg')
            expect(chart).to_be_visible()
            expect(chart.locator("polyline.series")).to_have_count(1)

            row = frame.locator('#alert-board tr[data-alert="high_email_failure_rate"]')
            expect(row).to_be_visible()
            row.locator("form.silence select[name=minutes]").select_option("60")
            row.locator("form.silence input[name=reason]").fill("SendGrid maintenance window")
            row.locator("form.silence button").click()

            expect(frame.locator("#done")).to_contain_text("silenced high_email_failure_rate for 60 minutes")
            expect(
                frame.locator('#alert-board tr[data-alert="high_email_failure_rate"] .silenced')
            ).to_contain_text(f"Silenced by {user} until")
            expect(frame.locator("#silences")).to_contain_text("SendGrid maintenance window")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)
    assert shot.stat().st_size > 10_000
    assert db.execute("SELECT action, actor, reason FROM nurture_ops.alert_actions").fetchall() == [
        ("silence", user, "SendGrid maintenance window")
    ]
    print(f"\n  screenshot: {ARTIFACTS / shot.name}")
