"""N8n public REST API v1: list, read and deactivate workflows; export them as dated backups.

The runbook's N8n steps: "Verify workflows are activated", "If SendGrid is down, pause sender
workflow temporarily" (remediation) and the weekly "Export workflow definitions" (6. Backup &
Recovery), done here with the API key from the Airflow connection `n8n_api` (type http):

    host      N8n base URL, e.g. https://n8n.example.com or http://127.0.0.1 (scheme and port
              may be part of it; conn.port is honoured when the host has none; conn.schema is
              taken as the scheme when the host has none, as HttpHook does)
    password  the N8n API key (Settings > n8n API); alternatively extra {"api_key": "..."}

The key travels only in the X-N8N-API-KEY header and never appears in messages or logs.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

N8N_CONN_ID = "n8n_api"


API_PREFIX = "/api/v1"


PAGE_SIZE = 100  # N8n accepts up to 250


MAX_PAGES = 10_000


class N8nError(RuntimeError):
    """A failed N8n API call; the message says what failed and what to check."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.status = status
        self.url = url


class N8nClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 10, *, conn_id: str | None = None):
        if not base_url:
            raise N8nError("N8n base URL is empty: set the host of the Airflow connection 'n8n_api'.")
        if not api_key:
            raise N8nError(
                "N8n API key is empty: put it in the password (or extra 'api_key') of the Airflow "
                f"connection '{conn_id or N8N_CONN_ID}'."
            )
        base = base_url.rstrip("/")
        if base.endswith(API_PREFIX):
            base = base[: -len(API_PREFIX)]
        self.base_url = base
        self.timeout = timeout
        self.conn_id = conn_id or N8N_CONN_ID
        self._session = requests.Session()
        self._session.headers.update({"X-N8N-API-KEY": api_key, "Accept": "application/json"})

    def __repr__(self) -> str:  # never shows the key
        return f"N8nClient({self.base_url!r})"

    @classmethod
    def from_connection(cls, conn_id: str = N8N_CONN_ID, timeout: float = 10) -> N8nClient:
        """Build a client from an Airflow connection (read now, at call time)."""
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
        api_key = conn.password or conn.extra_dejson.get("api_key")
        return cls(_base_url(conn.host, conn.port, conn.schema), api_key, timeout, conn_id=conn_id)

    # -- API ------------------------------------------------------------------------------------

    def list_workflows(self, *, page_size: int = PAGE_SIZE, **filters: Any) -> list[dict]:
        """Every workflow, following `nextCursor` until it is null (filters: active, name, tags)."""
        workflows: list[dict] = []
        seen_cursors: set[str] = set()
        cursor: str | None = None
        for _page in range(MAX_PAGES):
            params: dict[str, Any] = {"limit": page_size}
            for key, value in filters.items():
                if value is not None:
                    params[key] = str(value).lower() if isinstance(value, bool) else value
            if cursor:
                params["cursor"] = cursor
            body = self._request("GET", "/workflows", params=params)
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise N8nError(
                    f"Unexpected N8n response to GET {self._url('/workflows')}: no 'data' list. "
                    "Is the connection's host the N8n base URL?",
                    url=self._url("/workflows"),
                )
            workflows.extend(body["data"])
            cursor = body.get("nextCursor")
            if not cursor:
                return workflows
            if cursor in seen_cursors:
                raise N8nError(
                    f"N8n returned the same nextCursor twice while listing workflows at "
                    f"{self._url('/workflows')}; stopping to avoid an endless loop.",
                    url=self._url("/workflows"),
                )
            seen_cursors.add(cursor)
        raise N8nError(f"More than {MAX_PAGES} pages of workflows at {self._url('/workflows')}; giving up.")

    def get_workflow(self, workflow_id: str | int) -> dict:
        return self._request("GET", f"/workflows/{workflow_id}")

    def find_workflow(self, name: str) -> dict | None:
        """The workflow with exactly this name, or None; several with the name is an error."""
        matches = [wf for wf in self.list_workflows(name=name) if wf.get("name") == name]
        if len(matches) > 1:
            ids = ", ".join(str(wf.get("id")) for wf in matches)
            raise N8nError(f"{len(matches)} N8n workflows are named {name!r} (ids {ids}); refusing to guess.")
        return matches[0] if matches else None

    def deactivate_workflow(self, workflow_id: str | int) -> dict:
        """Deactivate (pause) a workflow; returns the workflow as N8n reports it afterwards."""
        return self._request("POST", f"/workflows/{workflow_id}/deactivate")

    def activate_workflow(self, workflow_id: str | int) -> dict:
        return self._request("POST", f"/workflows/{workflow_id}/activate")

    # -- plumbing -------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}{API_PREFIX}{path}"

    def _request(self, method: str, path: str, params: dict | None = None) -> Any:
        url = self._url(path)
        shown = requests.Request(method, url, params=params).prepare().url  # no key: it is a header
        where = f"the Airflow connection '{self.conn_id}'"
        try:
            response = self._session.request(method, url, params=params, timeout=self.timeout)
        except requests.ConnectionError as exc:
            raise N8nError(
                f"Could not connect to N8n for {method} {shown}: {_short(exc)}. "
                f"Is N8n running at {self.base_url}? Check the host and port of {where}.",
                url=shown,
            ) from exc
        except requests.Timeout as exc:
            raise N8nError(
                f"N8n did not answer {method} {shown} within {self.timeout} s. "
                f"Is N8n at {self.base_url} overloaded or unreachable?",
                url=shown,
            ) from exc
        except requests.RequestException as exc:
            raise N8nError(f"N8n request {method} {shown} failed: {_short(exc)}", url=shown) from exc
        if response.status_code >= 400:
            raise N8nError(
                f"N8n API {method} {shown} returned {response.status_code} {response.reason}: "
                f"{_error_detail(response)}. {_hint(response.status_code, where)}",
                status=response.status_code,
                url=shown,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise N8nError(
                f"N8n API {method} {shown} returned {response.status_code} but not JSON "
                f"(starts {response.text[:80]!r}). Is {self.base_url} the N8n base URL?",
                status=response.status_code,
                url=shown,
            ) from exc


def _base_url(host: str | None, port: int | None, scheme: str | None) -> str:
    host = (host or "").strip()
    if not host:
        return ""
    if "://" not in host:
        host = f"{scheme or 'http'}://{host}"
    parts = urlsplit(host)
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _short(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    return text[:200]


def _error_detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or "(empty body)"
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:200]
    return json.dumps(body)[:200]


def _hint(status: int, where: str) -> str:
    if status == 401:
        return (
            f"Check the API key in {where} (password, or extra 'api_key'); "
            "create one in N8n under Settings > n8n API."
        )
    if status == 403:
        return f"The API key in {where} lacks permission for this call (N8n API key scopes)."
    if status == 404:
        return "No such workflow (or the host is not an N8n instance with the public API enabled)."
    if status == 429:
        return "N8n is rate limiting; retry later."
    if status >= 500:
        return "N8n failed internally; check the N8n logs (journalctl -u n8n, pm2 logs n8n)."
    return "See the N8n API documentation for this status."
