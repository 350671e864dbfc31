"""The Lead Nurture page under Airflow's own api-server app (airflow.api_fastapi.app.create_app),
which loads the plugin from the plugins folder and mounts it, with the simple auth manager: an
admin (may act) and a viewer (read only), tokens issued by the auth manager itself."""

from __future__ import annotations

import pytest

USERS = "admin:admin,viewer:viewer"


@pytest.fixture(scope="session")
def airflow_app(airflow_db):
    from airflow.configuration import conf

    conf.set("core", "simple_auth_manager_users", USERS)
    from airflow.api_fastapi.app import create_app, purge_cached_app

    purge_cached_app()
    app = create_app(apps="core")
    yield app
    purge_cached_app()


def token_for(username: str, role: str) -> str:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=username, role=role))


@pytest.fixture
def client(airflow_app, leads_db):
    """An HTTP client of the api-server app, on the test's lead-nurture database."""
    from fastapi.testclient import TestClient

    return TestClient(airflow_app, base_url="http://127.0.0.1:8080")


@pytest.fixture
def admin(client):
    client.cookies.set("_token", token_for("admin", "admin"))
    return client


@pytest.fixture
def viewer(client):
    client.cookies.set("_token", token_for("viewer", "viewer"))
    return client
