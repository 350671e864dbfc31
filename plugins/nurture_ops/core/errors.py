"""Bad input fails fast: a malformed param or Variable is not retried (retrying cannot fix it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def rejected_input() -> Iterator[None]:
    """Turn a ValueError (bad params, invalid overrides) into a failure without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except ValueError as exc:
        raise AirflowFailException(f"{exc} (bad input: not retried; nothing was changed)") from exc
