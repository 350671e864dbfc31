from __future__ import annotations

import pytest

from dev.fake_n8n import FakeN8n, make_workflow
from tests.review.builders import Rows


@pytest.fixture
def fake_n8n():
    """A FakeN8n on 127.0.0.1 (free port) with 7 workflows; stopped after the test."""
    workflows = [make_workflow(f"w{i}", f"Workflow {i}") for i in range(1, 8)]
    server = FakeN8n(workflows, port=0).start()
    yield server
    server.stop()


@pytest.fixture
def rows(db) -> Rows:
    return Rows(db)
