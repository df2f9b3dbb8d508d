"""The one DynamoDB client: built lazily, explicit timeouts, standard retries, every call counted.

Every call passes a circuit breaker, rebuilt with the client, so a store that is down costs
one call's timeout budget (see README, "Time budget"), not one per request.
"""

import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from django.conf import settings

from .breaker import CircuitBreaker
from .errors import translated

_client: Any = None
_tables_client: Any = None
_breaker: CircuitBreaker | None = None
_lock = threading.Lock()
_local = threading.local()

# Creating and describing tables is set-up, not a request: it may take seconds (a cold
# DynamoDB Local, a new table on AWS), so it gets its own patient client and no breaker.
TABLE_OPERATIONS = frozenset(
    {
        "create_table",
        "update_table",
        "describe_table",
        "list_tables",
        "update_time_to_live",
        "describe_time_to_live",
    }
)
TABLE_READ_TIMEOUT = 30


def client() -> Any:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = _build(settings.DYNAMODB_READ_TIMEOUT)
    return _client


def _table_client() -> Any:
    global _tables_client
    if _tables_client is None:
        with _lock:
            if _tables_client is None:
                _tables_client = _build(TABLE_READ_TIMEOUT)
    return _tables_client


def breaker() -> CircuitBreaker:
    global _breaker
    if _breaker is None:
        with _lock:
            if _breaker is None:
                _breaker = CircuitBreaker(
                    failures=settings.DYNAMODB_BREAKER_FAILURES,
                    open_seconds=settings.DYNAMODB_BREAKER_OPEN_SECONDS,
                )
    return _breaker


def reset_client() -> None:
    """Forget the clients and the breaker so the next call builds them from current settings."""
    global _client, _tables_client, _breaker
    with _lock:
        _client = _tables_client = _breaker = None


def _build(read_timeout: float) -> Any:
    config = Config(
        region_name=settings.DYNAMODB_REGION,
        connect_timeout=settings.DYNAMODB_CONNECT_TIMEOUT,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": settings.DYNAMODB_MAX_ATTEMPTS},
        max_pool_connections=50,
    )
    kwargs: dict[str, Any] = {}
    if settings.DYNAMODB_ENDPOINT_URL:
        # DynamoDB Local accepts any credentials; don't make a developer configure some.
        kwargs = {
            "endpoint_url": settings.DYNAMODB_ENDPOINT_URL,
            "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        }
    built = boto3.session.Session().client("dynamodb", config=config, **kwargs)
    built.meta.events.register("before-call.dynamodb", _count_call)
    return built


def call(operation: str, **params: Any) -> dict[str, Any]:
    """Run one DynamoDB operation (e.g. "get_item") with errors translated to domain errors."""
    if operation in TABLE_OPERATIONS:
        with translated():
            return dict(getattr(_table_client(), operation)(**params))
    with translated(), breaker().guard():
        result: dict[str, Any] = getattr(client(), operation)(**params)
        return result


class CallLog:
    def __init__(self) -> None:
        self.operations: list[str] = []

    @property
    def count(self) -> int:
        return len(self.operations)

    def by_operation(self) -> Counter[str]:
        return Counter(self.operations)


def _count_call(model: Any, **_: Any) -> None:
    for log in getattr(_local, "logs", ()):
        log.operations.append(model.name)


@contextmanager
def counting_calls() -> Iterator[CallLog]:
    """Record the DynamoDB operations this thread makes inside the block."""
    log = CallLog()
    logs = getattr(_local, "logs", [])
    _local.logs = [*logs, log]
    try:
        yield log
    finally:
        _local.logs = logs
