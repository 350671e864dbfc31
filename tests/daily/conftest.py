"""Fixtures of the daily-cadence tests (the shared ones live in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.builders import Seed


@pytest.fixture
def seed(db) -> Seed:
    return Seed(db)
