"""A circuit breaker in front of the store: fail fast while it is down, probe to notice recovery.

Closed: calls go through. After `failures` calls in a row fail for want of the store
(no connection, a timeout, a 5xx), it opens: every call fails at once with `Unavailable`
for `open_seconds`. Then one call is let through as a probe while the others keep failing
fast; the probe's success closes the breaker, its failure opens it again.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from .errors import Unavailable


def is_store_down(exc: BaseException) -> bool:
    """The store did not answer, or answered that it is failing: not a refusal of the request."""
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return int(status) >= 500
    return False


class CircuitBreaker:
    def __init__(self, *, failures: int, open_seconds: float):
        self.failures = failures
        self.open_seconds = open_seconds
        self._lock = threading.Lock()
        self._failed = 0
        self._open_until: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    @contextmanager
    def guard(self) -> Iterator[None]:
        probe = self._admit()
        try:
            yield
        except BaseException as exc:
            self._finish(probe, failed=is_store_down(exc))
            raise
        self._finish(probe, failed=False)

    def _admit(self) -> bool:
        """Let the call through (True when it is the probe) or raise Unavailable."""
        with self._lock:
            if self._open_until is None:
                return False
            if self._probing or time.monotonic() < self._open_until:
                raise Unavailable("the store is down (circuit open)")
            self._probing = True
            return True

    def _finish(self, probe: bool, *, failed: bool) -> None:
        with self._lock:
            if probe:
                self._probing = False
            if not failed:
                self._failed, self._open_until = 0, None
                return
            self._failed += 1
            if probe or self._failed >= self.failures:
                self._open_until = time.monotonic() + self.open_seconds
