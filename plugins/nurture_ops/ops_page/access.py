"""Who may see and who may act on the Lead Nurture page, through Airflow's own security.

Airflow mounts a plugin's FastAPI app as it is (airflow.api_fastapi.app.init_plugins: app.mount),
with none of the core API's dependencies: every route of it is anonymous unless the app checks.
So every route here depends on `current_user`, which is Airflow's `get_user`
(airflow.api_fastapi.core_api.security: the Bearer header, else the UI's `_token` cookie, checked by
the deployment's auth manager: 401 without a credential, 403 for an invalid one). Acting on an alert
needs what editing its DAG needs (`require_dag_edit`: Airflow's `requires_access_dag("PUT")` on the
alert's DAG), so a read-only user (the simple auth manager's viewer) sees the page but cannot act.

Actions are POSTs protected against cross-site requests (`check_csrf`): a browser's cross-site
request is refused by its Origin / Sec-Fetch-Site headers, and every form carries a token that is an
HMAC of the caller's own credential under the api-server's secret key, which another site can
neither read nor compute.

Airflow's security module is imported when a request comes in, never when the plugin loads.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

COOKIE_NAME = "_token"  # airflow.api_fastapi.auth.managers.base_auth_manager.COOKIE_NAME_JWT_TOKEN


async def current_user(request: Request):
    """The authenticated Airflow user (Airflow's get_user), else 401/403 as the core API answers."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    return await get_user(request, None, credentials)


def user_name(user) -> str:
    return user.get_name()


def can_edit_dag(request: Request, user, dag_id: str) -> bool:
    try:
        require_dag_edit(request, user, dag_id)
    except HTTPException:
        return False
    return True


def require_dag_edit(request: Request, user, dag_id: str) -> None:
    """403 unless `user` may edit DAG `dag_id` (Airflow's requires_access_dag("PUT"))."""
    from airflow.api_fastapi.core_api.security import requires_access_dag

    requires_access_dag("PUT", param_dag_id=dag_id)(request, user)


def _credential(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE_NAME, "")


def _key() -> bytes:
    from airflow.api_fastapi.auth.tokens import get_signing_key

    return get_signing_key("api", "secret_key").encode()


def csrf_token(request: Request) -> str:
    """The token the page's forms carry: bound to the caller's credential (a new login, a new token)."""
    return hmac.new(_key(), _credential(request).encode(), hashlib.sha256).hexdigest()


def check_csrf(request: Request, token: str | None) -> None:
    """403 for a cross-site request or a missing / wrong form token."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise HTTPException(403, f"cross-site request refused (Sec-Fetch-Site: {site})")
    origin = request.headers.get("origin")
    if origin and origin != "null":
        # Behind a reverse proxy the Host header may be the upstream's (nginx's default): the
        # forwarded host counts too. The form token is what a cross-site page cannot forge.
        own_hosts = {request.headers.get("host"), request.headers.get("x-forwarded-host")} - {None}
        if urlsplit(origin).netloc not in own_hosts:
            raise HTTPException(403, f"cross-site request refused (Origin {origin})")
    elif origin == "null":
        raise HTTPException(403, "cross-site request refused (Origin null)")
    if not token or not hmac.compare_digest(token, csrf_token(request)):
        raise HTTPException(403, "missing or invalid form token: reload the page and try again")
