"""PagerDuty Events API v2: trigger and resolve incidents for Critical alerts.

On the optional Airflow connection `pagerduty_events`:

    password  the integration key (routing key) of the PagerDuty service's Events API v2
              integration; alternatively extra {"routing_key": "..."}
    host      optional: the Events API base URL, default https://events.pagerduty.com (locally the
              PagerDuty stand-in, dev/fake_pagerduty.py); port and scheme as for any http connection

Why HttpHook and not the provider's PagerdutyEventsHook: that hook (provider 5.3.1) posts through
`pagerduty.EventsApiV2Client(integration_key)` with the Events API URL hard-coded (the connection's
host is a hidden field), with no timeout we can set; it cannot be pointed at a stand-in nor bounded.
The wire format is small and documented (POST /v2/enqueue, 202 with the dedup_key), so it is sent
here through the HTTP provider's HttpHook on the same connection, with a timeout on every call and
a few retries when PagerDuty is unreachable, slow, rate limiting (429) or failing (5xx); any other
4xx (a wrong routing key, a malformed event) is final at once. The key never appears in messages.
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

PAGERDUTY_CONN_ID = "pagerduty_events"
DEFAULT_EVENTS_URL = "https://events.pagerduty.com"
ENQUEUE_PATH = "/v2/enqueue"
SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")
TIMEOUT_S = 10
RETRY_ATTEMPTS = 3  # in all, the first included
RETRY_WAIT_S = 0.5  # doubled before each further attempt
RETRY_MAX_WAIT_S = 5.0


class PagerDutyError(RuntimeError):
    """A PagerDuty call that failed; the message says what to check."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class _StatusError(Exception):
    def __init__(self, response: requests.Response):
        super().__init__(f"{response.status_code} {response.reason}")
        self.response = response


def event_body(
    routing_key: str,
    action: str,
    dedup_key: str,
    *,
    summary: str | None = None,
    severity: str = "critical",
    source: str = "nurture_ops",
    custom_details: dict | None = None,
    links: list[dict] | None = None,
) -> dict[str, Any]:
    """The Events API v2 body of one event. Pure. A trigger carries the payload; a resolve only
    the routing key, the action and the dedup_key (PagerDuty ignores anything else on it)."""
    if action not in ACTIONS:
        raise ValueError(f"event_action must be one of {ACTIONS}, got {action!r}")
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key}
    if action == "trigger":
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
        body["payload"] = {
            "summary": (summary or dedup_key)[:1024],  # PagerDuty's limit
            "severity": severity,
            "source": source,
            "custom_details": custom_details or {},
        }
        if links:
            body["links"] = links
    return body


def _base_url(host: str | None, port: int | None, scheme: str | None) -> str:
    host = (host or "").strip() or DEFAULT_EVENTS_URL
    if "://" not in host:
        host = f"{scheme or 'https'}://{host}"
    parts = urlsplit(host)
    netloc = parts.netloc if not port or parts.port is not None else f"{parts.netloc}:{port}"
    path = parts.path.rstrip("/")
    path = path[: -len(ENQUEUE_PATH)] if path.endswith(ENQUEUE_PATH) else path
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _routing_key(connection) -> str | None:
    return connection.password or connection.extra_dejson.get("routing_key")


class PagerDutyEvents:
    """Send Events API v2 events through HttpHook on one Airflow connection."""

    def __init__(
        self,
        connection: Connection,
        *,
        timeout: float = TIMEOUT_S,
        attempts: int = RETRY_ATTEMPTS,
        retry_wait_s: float = RETRY_WAIT_S,
    ):
        self.conn_id = connection.conn_id or PAGERDUTY_CONN_ID
        self.base_url = _base_url(connection.host, connection.port, connection.schema)
        if not _routing_key(connection):
            raise PagerDutyError(
                f"PagerDuty integration key is empty: put it in the password (or extra 'routing_key') "
                f"of the Airflow connection '{self.conn_id}'."
            )
        self.timeout, self.attempts, self.retry_wait_s = timeout, max(1, attempts), retry_wait_s
        self._connection = connection

    def __repr__(self) -> str:  # never shows the key
        return f"PagerDutyEvents({self.base_url!r})"

    @classmethod
    def from_connection(cls, conn_id: str = PAGERDUTY_CONN_ID, **options: Any) -> PagerDutyEvents:
        from airflow.sdk import BaseHook

        return cls(BaseHook.get_connection(conn_id), **options)

    def send(self, action: str, dedup_key: str, **payload: Any) -> str:
        """Post one event; returns the dedup_key PagerDuty answered with (202)."""
        body = event_body(_routing_key(self._connection), action, dedup_key, **payload)
        url = f"{self.base_url}{ENQUEUE_PATH}"
        hook = _hook_class()(self._connection, self.base_url)
        try:
            response = hook.run_with_advanced_retry(
                self._retry_args(action, dedup_key),
                endpoint=ENQUEUE_PATH,
                data=json.dumps(body),
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                extra_options={"timeout": self.timeout, "allow_redirects": False},  # keys stay on this host
            )
        except _StatusError as exc:
            failed = exc.response
            hint = (
                "Check the integration key (routing key) of the connection"
                if failed.status_code in (400, 401, 403, 404)
                else "PagerDuty is rate limiting or failing; the next run sends it again"
            )
            raise PagerDutyError(
                f"PagerDuty {action} {dedup_key!r} at {url} returned {failed.status_code} {failed.reason}: "
                f"{failed.text[:200]!r}. {hint} ('{self.conn_id}').",
                status=failed.status_code,
            ) from exc
        except requests.RequestException as exc:
            raise PagerDutyError(
                f"Could not reach PagerDuty for {action} {dedup_key!r} at {url} within {self.timeout} s "
                f"({type(exc).__name__}); check the host of the connection '{self.conn_id}'. "
                "The next run sends it again."
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        answered = body.get("dedup_key") if isinstance(body, dict) else None  # accepted all the same
        return answered or dedup_key

    def _retry_args(self, action: str, dedup_key: str) -> dict[str, Any]:
        def log_retry(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "PagerDuty %s %s failed (%s); attempt %d of %d",
                action,
                dedup_key,
                exc,
                state.attempt_number,
                self.attempts,
            )

        return {
            "retry": tenacity.retry_if_exception(_retryable),
            "stop": tenacity.stop_after_attempt(self.attempts),
            "wait": tenacity.wait_exponential(multiplier=self.retry_wait_s, max=RETRY_MAX_WAIT_S),
            "before_sleep": log_retry,
            "reraise": True,
        }


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, _StatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


@functools.cache
def _hook_class() -> type:
    """HttpHook on an already read connection, at the Events API base URL, the routing key in the
    body only (never basic auth), error statuses raised with their response. Built on first use:
    importing this module (at parse time) does not import the HTTP provider."""
    from airflow.providers.http.hooks.http import HttpHook

    class PagerDutyHook(HttpHook):
        def __init__(self, connection, base_url: str):
            super().__init__(method="POST", http_conn_id=connection.conn_id or PAGERDUTY_CONN_ID)
            self._connection, self._events_url = connection, base_url

        def get_connection(self, conn_id: str):  # type: ignore[override]
            return self._connection if conn_id == self.http_conn_id else super().get_connection(conn_id)

        def _set_base_url(self, connection) -> None:
            super()._set_base_url(connection)
            self.base_url = self._events_url

        def _configure_session_from_auth(self, session, connection):
            session.auth = None  # the key travels in the body, as the Events API wants
            return session

        def _configure_session_from_extra(self, session, connection, extra_options):
            session = super()._configure_session_from_extra(session, connection, extra_options)
            session.headers.pop("routing_key", None)  # HttpHook makes a header of every extra key
            return session

        def check_response(self, response: requests.Response) -> None:
            if response.status_code >= 400:
                raise _StatusError(response)

    return PagerDutyHook
