"""N8n public REST API v1: list, read and deactivate workflows; export them as dated backups.

The runbook's N8n steps: "Verify workflows are activated", "If SendGrid is down, pause sender
workflow temporarily" (remediation) and the weekly "Export workflow definitions" (6. Backup &
Recovery), done here through the HTTP provider's `HttpHook` on the Airflow connection `n8n_api`
(type http):

    host      N8n base URL, e.g. https://n8n.example.com or http://127.0.0.1 (scheme and port
              may be part of it; conn.port is honoured when the host has none; conn.schema is
              taken as the scheme when the host has none, as HttpHook does; a trailing /api/v1
              is dropped)
    password  the N8n API key (Settings > n8n API); alternatively extra {"api_key": "..."}

The key travels only in the X-N8N-API-KEY header (never as basic auth, never as the extra header
HttpHook would make of extra `api_key`) and never appears in messages, logs or `repr`.

Every call has a timeout and is retried with tenacity, a few times with short waits, when N8n
could not be reached, did not answer in time, rate limited (429) or failed (5xx); any other 4xx
is final at once.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import requests
import tenacity

if TYPE_CHECKING:
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

N8N_CONN_ID = "n8n_api"


API_PREFIX = "/api/v1"
API_KEY_HEADER = "X-N8N-API-KEY"


PAGE_SIZE = 100  # N8n accepts up to 250


MAX_PAGES = 10_000


# What the runbook calls the workflow execution queue ("Scale N8n: queue > 100 items"): executions
# N8n has accepted and not finished, i.e. waiting (queued, or paused in a Wait node) and running.
QUEUE_STATUSES = ("waiting", "running")


RETRY_ATTEMPTS = 3  # attempts in all, the first included
RETRY_WAIT_S = 0.5  # before the second attempt; doubled before each further one
RETRY_MAX_WAIT_S = 5.0  # the longest wait, also for a 429's Retry-After


class N8nError(RuntimeError):
    """A failed N8n API call; the message says what failed and what to check."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.status = status
        self.url = url


class _StatusError(Exception):
    """An N8n answer with an error status, raised by the hook's check_response (retried or not)."""

    def __init__(self, response: requests.Response):
        super().__init__(f"{response.status_code} {response.reason}")
        self.response = response


class N8nClient:
    """The N8n API calls nurture_ops makes, over `HttpHook` on one Airflow connection."""

    def __init__(
        self,
        connection: Connection,
        timeout: float = 10,
        *,
        attempts: int = RETRY_ATTEMPTS,
        retry_wait_s: float = RETRY_WAIT_S,
    ):
        self.conn_id = connection.conn_id or N8N_CONN_ID
        where = f"the Airflow connection '{self.conn_id}'"
        self.base_url = _base_url(connection.host, connection.port, connection.schema)
        if not self.base_url:
            raise N8nError(f"N8n base URL is empty: set the host of {where}.")
        if not _api_key(connection):
            raise N8nError(f"N8n API key is empty: put it in the password (or extra 'api_key') of {where}.")
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.timeout = timeout
        self.attempts = attempts
        self.retry_wait_s = retry_wait_s
        self._connection = connection
        self._hooks: dict[str, Any] = {}

    def __repr__(self) -> str:  # never shows the key
        return f"N8nClient({self.base_url!r})"

    @classmethod
    def from_connection(cls, conn_id: str = N8N_CONN_ID, timeout: float = 10, **retry: Any) -> N8nClient:
        """Build a client from an Airflow connection (read now, at call time, and only once)."""
        from airflow.sdk import BaseHook

        return cls(BaseHook.get_connection(conn_id), timeout, **retry)

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

    def count_executions(
        self, statuses: tuple[str, ...] = QUEUE_STATUSES, *, stop_above: int, page_size: int = PAGE_SIZE
    ) -> dict[str, Any]:
        """Executions in the given statuses (N8n filters one status per call), following
        `nextCursor`, and stopping as soon as more than `stop_above` are counted: a backlog of
        thousands costs a couple of pages, not thousands. Returns {"counted": n, "by_status":
        {status: n} (only the statuses asked for before stopping), "complete": False when counting
        stopped early, "pages": calls made}."""
        by_status: dict[str, int] = {}
        pages = 0
        stopped = False
        for status in statuses:
            if stopped:
                break
            by_status[status] = 0
            seen_cursors: set[str] = set()
            cursor: str | None = None
            while True:
                if pages >= MAX_PAGES:
                    raise N8nError(
                        f"More than {MAX_PAGES} pages of executions at {self._url('/executions')}; giving up."
                    )
                params: dict[str, Any] = {"status": status, "limit": page_size}
                if cursor:
                    params["cursor"] = cursor
                body = self._request("GET", "/executions", params=params)
                pages += 1
                if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                    raise N8nError(
                        f"Unexpected N8n response to GET {self._url('/executions')}: no 'data' list. "
                        "Is the connection's host the N8n base URL?",
                        url=self._url("/executions"),
                    )
                by_status[status] += len(body["data"])
                cursor = body.get("nextCursor")
                if not cursor:
                    break
                if sum(by_status.values()) > stop_above:  # more pages, but the answer is known
                    stopped = True
                    break
                if cursor in seen_cursors:
                    raise N8nError(
                        f"N8n returned the same nextCursor twice while listing executions at "
                        f"{self._url('/executions')}; stopping to avoid an endless loop.",
                        url=self._url("/executions"),
                    )
                seen_cursors.add(cursor)
            if sum(by_status.values()) > stop_above:
                stopped = stopped or status != statuses[-1]
        return {
            "counted": sum(by_status.values()),
            "by_status": by_status,
            "complete": not stopped,
            "pages": pages,
        }

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

    def _hook(self, method: str):
        if method not in self._hooks:
            self._hooks[method] = _hook_class()(method=method, connection=self._connection)
        return self._hooks[method]

    def _request(self, method: str, path: str, params: dict | None = None) -> Any:
        shown = requests.Request(method, self._url(path), params=params).prepare().url  # no key: a header
        where = f"the Airflow connection '{self.conn_id}'"
        retrying = self._retry_args(method, shown)
        hook = self._hook(method)
        try:
            response = hook.run_with_advanced_retry(
                retrying,
                endpoint=f"{API_PREFIX}{path}",
                data=params,
                extra_options={"timeout": self.timeout, "allow_redirects": False},  # keys stay on this host
            )
        except _StatusError as exc:
            failed = exc.response
            raise N8nError(
                f"N8n API {method} {shown} returned {failed.status_code} {failed.reason}: "
                f"{_error_detail(failed)}. {_hint(failed.status_code, where)}{_tries(hook)}",
                status=failed.status_code,
                url=shown,
            ) from exc
        except requests.ConnectionError as exc:
            raise N8nError(
                f"Could not connect to N8n for {method} {shown}: {_short(exc)}{_tries(hook)}. "
                f"Is N8n running at {self.base_url}? Check the host and port of {where}.",
                url=shown,
            ) from exc
        except requests.Timeout as exc:
            raise N8nError(
                f"N8n did not answer {method} {shown} within {self.timeout} s{_tries(hook)}. "
                f"Is N8n at {self.base_url} overloaded or unreachable?",
                url=shown,
            ) from exc
        except requests.RequestException as exc:
            raise N8nError(f"N8n request {method} {shown} failed: {_short(exc)}", url=shown) from exc
        try:
            return response.json()
        except ValueError as exc:
            raise N8nError(
                f"N8n API {method} {shown} returned {response.status_code} but not JSON "
                f"(starts {response.text[:80]!r}). Is {self.base_url} the N8n base URL?",
                status=response.status_code,
                url=shown,
            ) from exc

    def _retry_args(self, method: str, shown: str) -> dict[str, Any]:
        """tenacity.Retrying arguments for one call (HttpHook.run_with_advanced_retry)."""
        backoff = tenacity.wait_exponential(multiplier=self.retry_wait_s, max=RETRY_MAX_WAIT_S)

        def wait(state: tenacity.RetryCallState) -> float:
            retry_after = _retry_after(state.outcome.exception() if state.outcome else None)
            return max(backoff(state), retry_after or 0.0)

        def log_retry(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "N8n %s %s failed (%s); attempt %d of %d, retrying in %.3g s",
                method,
                shown,
                _short(exc) if exc is not None else "?",
                state.attempt_number,
                self.attempts,
                state.next_action.sleep if state.next_action else 0.0,
            )

        return {
            "retry": tenacity.retry_if_exception(_retryable),
            "stop": tenacity.stop_after_attempt(self.attempts),
            "wait": wait,
            "before_sleep": log_retry,
            "reraise": True,
        }


@functools.cache
def _hook_class() -> type:
    """HttpHook made to speak to N8n. Built on first use, so that importing this module (at DAG
    parse time) does not import the HTTP provider (and aiohttp) as well."""
    from airflow.providers.http.hooks.http import HttpHook

    class N8nHook(HttpHook):
        """HttpHook on an already read connection: the key in X-N8N-API-KEY only, the base URL
        as `_base_url` builds it, error statuses raised as `_StatusError` (with the response)."""

        default_headers = {"Accept": "application/json"}

        def __init__(self, method: str, connection: Connection):
            super().__init__(method=method, http_conn_id=connection.conn_id)
            self._connection = connection

        def get_connection(self, conn_id: str):  # type: ignore[override]
            """The connection the client read: not read again for every call."""
            if conn_id == self.http_conn_id:
                return self._connection
            return super().get_connection(conn_id)

        def _set_base_url(self, connection) -> None:
            super()._set_base_url(connection)
            # HttpHook appends conn.port even to a host that has one, and keeps /api/v1.
            self.base_url = _base_url(connection.host, connection.port, connection.schema)

        def _configure_session_from_auth(self, session, connection):
            session.auth = None  # HttpHook would send login:password as basic auth
            session.headers[API_KEY_HEADER] = _api_key(connection)
            return session

        def _configure_session_from_extra(self, session, connection, extra_options):
            session = super()._configure_session_from_extra(session, connection, extra_options)
            session.headers.pop("api_key", None)  # HttpHook makes a header of every other extra key
            return session

        def check_response(self, response: requests.Response) -> None:
            # HttpHook logs the body and raises AirflowException("<status>:<reason>"): the status
            # and body are needed here, to retry or not and to explain the failure.
            if response.status_code >= 400:
                raise _StatusError(response)

    return N8nHook


def _api_key(connection) -> str | None:
    return connection.password or connection.extra_dejson.get("api_key")


def _retryable(exc: BaseException) -> bool:
    """Worth another attempt: N8n unreachable or slow (not a TLS failure), a 429 or a 5xx."""
    if isinstance(exc, _StatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


def _retry_after(exc: BaseException | None) -> float | None:
    """A 429's (or 503's) Retry-After in seconds, capped at RETRY_MAX_WAIT_S; None without one."""
    if not isinstance(exc, _StatusError):
        return None
    value = exc.response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        return None  # absent, or an HTTP date: the backoff applies
    return min(max(seconds, 0.0), RETRY_MAX_WAIT_S)


def _tries(hook) -> str:
    attempts = getattr(hook, "_retry_obj", None)
    count = attempts.statistics.get("attempt_number", 1) if attempts is not None else 1
    return f" (gave up after {count} attempts)" if count > 1 else ""


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
    path = parts.path.rstrip("/")
    if path.endswith(API_PREFIX):
        path = path[: -len(API_PREFIX)]
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _short(exc: BaseException) -> str:
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
