"""JSON over HTTP through the HTTP provider's `HttpHook`, for the outside APIs the checks read:
SendGrid's Stats API (`sendgrid.py`), SendGrid's status page (`statuspage.py`) and Supabase's
Management API (`supabase.py`). N8n has its own client (`n8n.py`), built the same way.

One Airflow connection (type http) per API, read once when the client is built (inside a task,
never at parse time):

    host      the API's base URL, e.g. https://api.sendgrid.com (scheme and port may be part of
              it; conn.port is honoured when the host has none; conn.schema is taken as the
              scheme when the host has none, as HttpHook does); an API with a public default
              (the status page) uses it when the connection is missing or has no host
    password  the API key, sent only as `Authorization: Bearer <key>` (never as basic auth, never
              in messages, logs or `repr`); alternatively extra {"api_key": "..."}
    extra     the API's own settings (e.g. Supabase's "project_ref"); they are not sent as
              headers, as HttpHook would otherwise do with every extra key

Every call has a timeout per attempt and a bounded number of attempts (tenacity), retried only
when the API could not be reached, did not answer in time, rate limited (429) or failed (5xx),
and never beyond an overall deadline; any other 4xx is final at once. Failures raise `ApiError`
(what failed, and what to check); a missing connection raises `NotConfigured`, which reports
word as "not configured" (`describe_failure`).
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import requests
import tenacity

if TYPE_CHECKING:
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

RETRY_ATTEMPTS = 3  # attempts in all, the first included
RETRY_WAIT_S = 0.5  # before the second attempt; doubled before each further one
RETRY_MAX_WAIT_S = 5.0  # the longest wait, also for a 429's Retry-After


@dataclass(frozen=True)
class Api:
    """What differs between the APIs: their name in messages, connection, default host, auth."""

    name: str
    conn_id: str
    default_host: str | None = None  # used when the connection has no host
    bearer: bool = True
    # a public API (the status page): a missing connection means its default host, not "not configured"
    optional: bool = False
    # extra keys that are settings of ours, not headers (HttpHook sends every other extra key)
    extra_keys: tuple[str, ...] = ("api_key",)
    key_hint: str = ""


class ApiError(RuntimeError):
    """A failed API call; the message says what failed and what to check."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.status = status
        self.url = url


class NotConfigured(ApiError):
    """The API's Airflow connection is not defined (or lacks what the call needs)."""


def describe_failure(exc: BaseException) -> str:
    """How a report words a failure: 'not configured: ...' or 'API failed: ...'."""
    if isinstance(exc, NotConfigured):
        return f"not configured: {exc}"
    return f"API failed: {exc}"


class _StatusError(Exception):
    """An answer with an error status, raised by the hook's check_response (retried or not)."""

    def __init__(self, response: requests.Response):
        super().__init__(f"{response.status_code} {response.reason}")
        self.response = response


def read_connection(api: Api, conn_id: str | None = None) -> Connection:
    """The API's Airflow connection; for an optional API without one, its default host; else
    NotConfigured."""
    from airflow.sdk import BaseHook, Connection

    conn_id = conn_id or api.conn_id
    try:
        return BaseHook.get_connection(conn_id)
    except Exception as exc:  # AirflowNotFoundException, or the task SDK's own error for it
        text = str(exc)
        if "isn't defined" not in text and "not found" not in text.lower() and "NOT_FOUND" not in text:
            raise
        if api.optional and api.default_host:
            return Connection(conn_id=conn_id, conn_type="http", host=api.default_host)
        raise NotConfigured(
            f"the Airflow connection '{conn_id}' is not defined (type http, host = the {api.name} "
            f"base URL{', password = the API key' if api.bearer else ''})"
        ) from None


class JsonClient:
    """GET JSON from one API over `HttpHook`, on an already read connection."""

    def __init__(
        self,
        api: Api,
        connection: Connection,
        *,
        timeout: float = 10,
        attempts: int = RETRY_ATTEMPTS,
        retry_wait_s: float = RETRY_WAIT_S,
        deadline_s: float | None = None,
    ):
        self.api = api
        self.conn_id = connection.conn_id or api.conn_id
        self.where = f"the Airflow connection '{self.conn_id}'"
        self.base_url = base_url(connection.host or api.default_host, connection.port, connection.schema)
        if not self.base_url:
            raise NotConfigured(f"{api.name} base URL is empty: set the host of {self.where}.")
        if api.bearer and not api_key(connection):
            raise NotConfigured(
                f"{api.name} API key is empty: put it in the password (or extra 'api_key') of {self.where}."
            )
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.timeout = timeout
        self.attempts = attempts
        self.retry_wait_s = retry_wait_s
        self.deadline_s = deadline_s
        self.connection = connection
        self._hook_obj: Any = None

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}({self.base_url!r})"

    @property
    def extra(self) -> dict:
        return self.connection.extra_dejson

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def get(self, path: str, params: dict | None = None) -> Any:
        """GET base_url + path with the query `params`; the decoded JSON body."""
        shown = requests.Request("GET", self.url(path), params=params).prepare().url  # no key: a header
        hook = self._hook()
        try:
            response = hook.run_with_advanced_retry(
                self._retry_args(shown),
                endpoint=path,
                data=params,
                extra_options={"timeout": self.timeout, "allow_redirects": False},  # keys stay on this host
            )
        except _StatusError as exc:
            failed = exc.response
            raise ApiError(
                f"{self.api.name} GET {shown} returned {failed.status_code} {failed.reason}: "
                f"{error_detail(failed)}. {self._hint(failed.status_code)}{_tries(hook)}",
                status=failed.status_code,
                url=shown,
            ) from exc
        except requests.Timeout as exc:
            raise ApiError(
                f"{self.api.name} did not answer GET {shown} within {self.timeout:g} s{_tries(hook)}",
                url=shown,
            ) from exc
        except requests.ConnectionError as exc:
            raise ApiError(
                f"could not connect to {self.api.name} for GET {shown}: {short(exc)}{_tries(hook)}. "
                f"Check the host of {self.where}.",
                url=shown,
            ) from exc
        except requests.RequestException as exc:
            raise ApiError(f"{self.api.name} GET {shown} failed: {short(exc)}", url=shown) from exc
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(
                f"{self.api.name} GET {shown} returned {response.status_code} but not JSON "
                f"(starts {response.text[:80]!r}). Is the host of {self.where} the {self.api.name} API?",
                status=response.status_code,
                url=shown,
            ) from exc

    def malformed(self, path: str, what: str) -> ApiError:
        """The error for an answer that is JSON but not the API's shape."""
        return ApiError(
            f"unexpected {self.api.name} answer to GET {self.url(path)}: {what}. "
            f"Is the host of {self.where} the {self.api.name} API?",
            url=self.url(path),
        )

    # -- plumbing -------------------------------------------------------------------------------

    def _hint(self, status: int) -> str:
        if status in (401, 403):
            return (
                f"Check the API key in {self.where}{'; ' + self.api.key_hint if self.api.key_hint else ''}."
            )
        if status == 404:
            return f"Check the host (and extra settings) of {self.where}."
        if status == 429:
            return f"{self.api.name} is rate limiting; retry later."
        if status >= 500:
            return f"{self.api.name} failed internally; retry later."
        return f"See the {self.api.name} API documentation for this status."

    def _hook(self):
        if self._hook_obj is None:
            self._hook_obj = _hook_class()(self.connection, self.api)
        return self._hook_obj

    def _retry_args(self, shown: str) -> dict[str, Any]:
        backoff = tenacity.wait_exponential(multiplier=self.retry_wait_s, max=RETRY_MAX_WAIT_S)

        def wait(state: tenacity.RetryCallState) -> float:
            retry_after = _retry_after(state.outcome.exception() if state.outcome else None)
            return max(backoff(state), retry_after or 0.0)

        def log_retry(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s GET %s failed (%s); attempt %d of %d, retrying in %.3g s",
                self.api.name,
                shown,
                short(exc) if exc is not None else "?",
                state.attempt_number,
                self.attempts,
                state.next_action.sleep if state.next_action else 0.0,
            )

        stop = tenacity.stop_after_attempt(self.attempts)
        if self.deadline_s is not None:
            stop = stop | tenacity.stop_after_delay(self.deadline_s)
        return {
            "retry": tenacity.retry_if_exception(_retryable),
            "stop": stop,
            "wait": wait,
            "before_sleep": log_retry,
            "reraise": True,
        }


@functools.cache
def _hook_class() -> type:
    """HttpHook on an already read connection. Built on first use, so that importing this module
    (at DAG parse time) does not import the HTTP provider."""
    from airflow.providers.http.hooks.http import HttpHook

    class JsonApiHook(HttpHook):
        default_headers = {"Accept": "application/json"}

        def __init__(self, connection: Connection, api: Api):
            super().__init__(method="GET", http_conn_id=connection.conn_id or api.conn_id)
            self._connection = connection
            self._api = api

        def get_connection(self, conn_id: str):  # type: ignore[override]
            if conn_id == self.http_conn_id:
                return self._connection
            return super().get_connection(conn_id)

        def _set_base_url(self, connection) -> None:
            super()._set_base_url(connection)
            # HttpHook appends conn.port even to a host that has one.
            self.base_url = base_url(
                connection.host or self._api.default_host, connection.port, connection.schema
            )
            self._base_url_initialized = True

        def _configure_session_from_auth(self, session, connection):
            session.auth = None  # HttpHook would send login:password as basic auth
            if self._api.bearer:
                session.headers["Authorization"] = f"Bearer {api_key(connection)}"
            return session

        def _configure_session_from_extra(self, session, connection, extra_options):
            session = super()._configure_session_from_extra(session, connection, extra_options)
            for key in self._api.extra_keys:
                session.headers.pop(key, None)
            return session

        def check_response(self, response: requests.Response) -> None:
            if response.status_code >= 400:
                raise _StatusError(response)

    return JsonApiHook


def api_key(connection) -> str | None:
    return connection.password or connection.extra_dejson.get("api_key")


def base_url(host: str | None, port: int | None, scheme: str | None) -> str:
    host = (host or "").strip()
    if not host:
        return ""
    if "://" not in host:
        host = f"{scheme or 'https'}://{host}"
    parts = urlsplit(host)
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, _StatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


def _retry_after(exc: BaseException | None) -> float | None:
    if not isinstance(exc, _StatusError):
        return None
    try:
        seconds = float(exc.response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return min(max(seconds, 0.0), RETRY_MAX_WAIT_S)


def _tries(hook) -> str:
    attempts = getattr(hook, "_retry_obj", None)
    count = attempts.statistics.get("attempt_number", 1) if attempts is not None else 1
    return f" (gave up after {count} attempts)" if count > 1 else ""


def short(exc: BaseException) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text[:200]


def error_detail(response: requests.Response) -> str:
    """The API's own error text: {"errors": [{"message": ...}]} (SendGrid), {"message": ...}."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or "(empty body)"
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)[
                :200
            ]
        for key in ("message", "error", "msg"):
            if body.get(key):
                return str(body[key])[:200]
    return json.dumps(body)[:200]
